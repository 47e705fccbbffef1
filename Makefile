# The two commands of the README, and their parts. Every target installs what it is missing.
#   make serve   install, build (Release), fetch the default models, serve config/default.yaml
#   make test    install, build, fetch the models, run every test and print the summary

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
CONFIG     ?= config/default.yaml
VENV       := $(BUILD_DIR)/venv
PYTHON     := $(VENV)/bin/python
TRUSTFORMERS_HOME ?= $(HOME)/.cache/trustformers/models
export TRUSTFORMERS_HOME

.PHONY: all deps venv configure build test serve fetch-models bench fixtures format clean

all: build

deps:
	scripts/install-deps.sh

venv: deps
	scripts/setup-venv.sh $(VENV)

configure: venv
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DTF_PYTHON=$(abspath $(PYTHON))

build: configure
	cmake --build $(BUILD_DIR)

fetch-models: venv
	PYTHON=$(PYTHON) scripts/fetch-models.sh

test: build fetch-models
	scripts/run-tests.sh $(BUILD_DIR)

serve: build fetch-models
	$(BUILD_DIR)/server/trustformers serve --config $(CONFIG)

bench: build fetch-models
	bench/run.sh $(BUILD_DIR)

fixtures: fetch-models
	scripts/make-fixtures.sh

format: deps
	git ls-files '*.h' '*.cc' '*.cu' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
