// Strict YAML -> Config mapping. yaml-cpp throws; every exception is caught here and turned into
// an INVALID_ARGUMENT status that names the place in the file.
#include "config/config_loader.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "config/config_values.h"
#include "yaml-cpp/yaml.h"

namespace trustformers::config {
namespace {

std::string NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", node.Scalar(), "'");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "an undefined value";
}

// Walks the YAML tree with the dotted key path and source position of every value at hand.
class Reader {
 public:
  explicit Reader(absl::string_view source) : source_(source) {}

  absl::Status Error(const YAML::Mark& mark, absl::string_view path, absl::string_view what) const {
    if (mark.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", what));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", mark.line + 1, ":", mark.column + 1, ": ", path, ": ", what));
  }

  using FieldReader = std::function<absl::Status(const YAML::Node&, const std::string&)>;

  // Reads a mapping whose keys must all be in `fields`; each present key's reader runs once.
  absl::Status Mapping(const YAML::Node& node, const std::string& path,
                       const std::map<std::string, FieldReader>& fields) const {
    if (node.IsNull()) return absl::OkStatus();  // "server:" with nothing under it
    if (!node.IsMap()) {
      return Error(node.Mark(), path, absl::StrCat("expected a mapping, got ", NodeKind(node)));
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      const std::string child = path.empty() ? name : absl::StrCat(path, ".", name);
      auto field = fields.find(name);
      if (field == fields.end()) {
        std::vector<std::string> known;
        for (const auto& [known_name, reader] : fields) known.push_back(known_name);
        return Error(key.Mark(), child.empty() ? "<key>" : child,
                     absl::StrCat("unknown key; expected one of: ", absl::StrJoin(known, ", ")));
      }
      if (!seen.insert(name).second) {
        return Error(key.Mark(), child, "key appears twice");
      }
      if (absl::Status status = field->second(entry.second, child); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status String(const YAML::Node& node, const std::string& path, std::string* out) const {
    if (!node.IsScalar()) {
      return Error(node.Mark(), path, absl::StrCat("expected a string, got ", NodeKind(node)));
    }
    *out = node.Scalar();
    return absl::OkStatus();
  }

  absl::Status Integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max,
                       int64_t* out) const {
    int64_t value = 0;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
      return Error(node.Mark(), path, absl::StrCat("expected an integer, got ", NodeKind(node)));
    }
    if (value < min || value > max) {
      return Error(node.Mark(), path,
                   absl::StrCat("must be between ", min, " and ", max, ", got ", value));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Number(const YAML::Node& node, const std::string& path, double min, double max,
                      double* out) const {
    double value = 0;
    if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), &value) || !std::isfinite(value)) {
      return Error(node.Mark(), path, absl::StrCat("expected a number, got ", NodeKind(node)));
    }
    if (value < min || value > max) {
      return Error(node.Mark(), path,
                   absl::StrCat("must be between ", min, " and ", max, ", got ", value));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Boolean(const YAML::Node& node, const std::string& path, bool* out) const {
    if (node.IsScalar()) {
      const std::string value = absl::AsciiStrToLower(node.Scalar());
      if (value == "true" || value == "false") {
        *out = value == "true";
        return absl::OkStatus();
      }
    }
    return Error(node.Mark(), path, absl::StrCat("expected true or false, got ", NodeKind(node)));
  }

  // A string that `check` accepts; `check` returns an empty string or the reason it refuses.
  absl::Status CheckedString(const YAML::Node& node, const std::string& path,
                             const std::function<std::string(const std::string&)>& check,
                             std::string* out) const {
    std::string value;
    if (absl::Status status = String(node, path, &value); !status.ok()) return status;
    if (std::string problem = check(value); !problem.empty()) {
      return Error(node.Mark(), path, problem);
    }
    *out = value;
    return absl::OkStatus();
  }

 private:
  std::string source_;
};

absl::Status ReadServer(const Reader& r, const YAML::Node& node, const std::string& path,
                        ServerConfig* out) {
  return r.Mapping(node, path,
                   {{"grpc_address",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.CheckedString(n, p, ListenAddressProblem, &out->grpc_address);
                     }},
                    {"max_receive_message_bytes",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.Integer(n, p, 1024, int64_t{2} * 1024 * 1024 * 1024 - 1,
                                        &out->max_receive_message_bytes);
                     }},
                    {"shutdown_grace_period_s", [&](const YAML::Node& n, const std::string& p) {
                       return r.Number(n, p, 0.0, 3600.0, &out->shutdown_grace_period_s);
                     }}});
}

std::string HttpAddressProblem(const std::string& address) {
  return address.empty() ? "" : ListenAddressProblem(address);
}

absl::Status ReadHttp(const Reader& r, const YAML::Node& node, const std::string& path,
                      HttpConfig* out) {
  auto seconds = [&](double* field) {
    return [&r, field](const YAML::Node& n, const std::string& p) {
      return r.Number(n, p, 0.001, 86400.0, field);
    };
  };
  return r.Mapping(node, path,
                   {{"address",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.CheckedString(n, p, HttpAddressProblem, &out->address);
                     }},
                    {"io_threads",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.Integer(n, p, 1, 256, &out->io_threads);
                     }},
                    {"max_body_bytes",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.Integer(n, p, 1024, int64_t{2} * 1024 * 1024 * 1024 - 1,
                                        &out->max_body_bytes);
                     }},
                    {"header_timeout_s", seconds(&out->header_timeout_s)},
                    {"body_timeout_s", seconds(&out->body_timeout_s)},
                    {"idle_timeout_s", seconds(&out->idle_timeout_s)},
                    {"write_timeout_s", seconds(&out->write_timeout_s)},
                    {"max_connections", [&](const YAML::Node& n, const std::string& p) {
                       return r.Integer(n, p, 1, 1000000, &out->max_connections);
                     }}});
}

absl::Status ReadAuth(const Reader& r, const YAML::Node& node, const std::string& path,
                      AuthConfig* out) {
  return r.Mapping(
      node, path,
      {{"api_keys_file", [&](const YAML::Node& n,
                             const std::string& p) { return r.String(n, p, &out->api_keys_file); }},
       {"api_keys_env", [&](const YAML::Node& n,
                            const std::string& p) { return r.String(n, p, &out->api_keys_env); }},
       {"open_health_and_metrics", [&](const YAML::Node& n, const std::string& p) {
          return r.Boolean(n, p, &out->open_health_and_metrics);
        }}});
}

absl::Status ReadTls(const Reader& r, const YAML::Node& node, const std::string& path,
                     TlsConfig* out) {
  return r.Mapping(
      node, path,
      {{"cert_file",
        [&](const YAML::Node& n, const std::string& p) { return r.String(n, p, &out->cert_file); }},
       {"key_file",
        [&](const YAML::Node& n, const std::string& p) { return r.String(n, p, &out->key_file); }},
       {"client_ca_file", [&](const YAML::Node& n, const std::string& p) {
          return r.String(n, p, &out->client_ca_file);
        }}});
}

absl::Status ReadLimits(const Reader& r, const YAML::Node& node, const std::string& path,
                        LimitsConfig* out) {
  auto integer = [&](int64_t min, int64_t max, int64_t* field) {
    return [&r, min, max, field](const YAML::Node& n, const std::string& p) {
      return r.Integer(n, p, min, max, field);
    };
  };
  return r.Mapping(
      node, path,
      {{"max_queued_generate_requests", integer(1, 1000000, &out->max_queued_generate_requests)},
       {"max_queued_encoder_requests", integer(1, 1000000, &out->max_queued_encoder_requests)},
       {"max_prompt_tokens", integer(0, int64_t{1} << 30, &out->max_prompt_tokens)},
       {"max_new_tokens", integer(0, int64_t{1} << 30, &out->max_new_tokens)},
       {"max_choices", integer(1, 16, &out->max_choices)},
       {"max_stop_strings", integer(0, 16, &out->max_stop_strings)},
       {"max_concurrent_streams", integer(1, 1000000, &out->max_concurrent_streams)}});
}

absl::Status ReadEngine(const Reader& r, const YAML::Node& node, const std::string& path,
                        EngineConfig* out) {
  auto integer = [&](int64_t min, int64_t max, int64_t* field) {
    return [&r, min, max, field](const YAML::Node& n, const std::string& p) {
      return r.Integer(n, p, min, max, field);
    };
  };
  return r.Mapping(node, path,
                   {{"kv_cache_mib", integer(1, 1 << 20, &out->kv_cache_mib)},
                    {"kv_block_tokens", integer(1, 1024, &out->kv_block_tokens)},
                    {"max_running_sequences", integer(1, 4096, &out->max_running_sequences)},
                    {"max_batch_tokens", integer(1, 1 << 20, &out->max_batch_tokens)},
                    {"prefill_chunk_tokens", integer(1, 1 << 20, &out->prefill_chunk_tokens)},
                    {"prefix_caching",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.Boolean(n, p, &out->prefix_caching);
                     }},
                    {"weights_in_memory", [&](const YAML::Node& n, const std::string& p) {
                       return r.Boolean(n, p, &out->weights_in_memory);
                     }}});
}

absl::Status ReadLogging(const Reader& r, const YAML::Node& node, const std::string& path,
                         LoggingConfig* out) {
  return r.Mapping(node, path,
                   {{"level",
                     [&](const YAML::Node& n, const std::string& p) {
                       return r.CheckedString(n, p, LogLevelProblem, &out->level);
                     }},
                    {"format", [&](const YAML::Node& n, const std::string& p) {
                       std::string format;
                       absl::Status status = r.CheckedString(n, p, LogFormatProblem, &format);
                       if (status.ok()) out->format = *ParseLogFormat(format);
                       return status;
                     }}});
}

absl::Status ReadFineTuning(const Reader& r, const YAML::Node& node, const std::string& path,
                            FineTuningConfig* out) {
  auto integer = [&](int64_t min, int64_t max, int64_t* field) {
    return [&r, min, max, field](const YAML::Node& n, const std::string& p) {
      return r.Integer(n, p, min, max, field);
    };
  };
  return r.Mapping(
      node, path,
      {{"enabled",
        [&](const YAML::Node& n, const std::string& p) { return r.Boolean(n, p, &out->enabled); }},
       {"data_dir",
        [&](const YAML::Node& n, const std::string& p) { return r.String(n, p, &out->data_dir); }},
       {"max_file_bytes", integer(1, int64_t{1} << 40, &out->max_file_bytes)},
       {"max_running_jobs", integer(1, 64, &out->max_running_jobs)},
       {"max_queued_jobs", integer(1, 100000, &out->max_queued_jobs)},
       {"train_threads", integer(0, 4096, &out->train_threads)}});
}

absl::Status ReadModel(const Reader& r, const YAML::Node& node, const std::string& path,
                       ModelConfig* out) {
  if (!node.IsMap()) {
    return r.Error(node.Mark(), path, absl::StrCat("expected a mapping, got ", NodeKind(node)));
  }
  absl::Status status = r.Mapping(
      node, path,
      {{"name",
        [&](const YAML::Node& n, const std::string& p) {
          return r.CheckedString(n, p, ModelNameProblem, &out->name);
        }},
       {"path",
        [&](const YAML::Node& n, const std::string& p) {
          return r.CheckedString(
              n, p, [](const std::string& v) { return v.empty() ? "must not be empty" : ""; },
              &out->path);
        }},
       {"device", [&](const YAML::Node& n, const std::string& p) {
          return r.CheckedString(n, p, DeviceProblem, &out->device);
        }}});
  if (!status.ok()) return status;
  if (out->name.empty()) return r.Error(node.Mark(), path, "'name' is required");
  if (out->path.empty()) return r.Error(node.Mark(), path, "'path' is required");
  return absl::OkStatus();
}

absl::Status ReadModels(const Reader& r, const YAML::Node& node, const std::string& path,
                        std::vector<ModelConfig>* out) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsSequence()) {
    return r.Error(node.Mark(), path, absl::StrCat("expected a list, got ", NodeKind(node)));
  }
  std::map<std::string, int> line_of_name;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    ModelConfig model;
    if (absl::Status status = ReadModel(r, node[i], item_path, &model); !status.ok()) {
      return status;
    }
    const int line = node[i].Mark().line + 1;
    if (auto [it, inserted] = line_of_name.emplace(model.name, line); !inserted) {
      return r.Error(
          node[i]["name"].Mark(), item_path + ".name",
          absl::StrCat("model name '", model.name, "' is already used on line ", it->second));
    }
    out->push_back(std::move(model));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name) {
  Reader r(source_name);
  Config config;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsNull() && !root.IsMap()) {
      return r.Error(root.Mark(), "<top level>",
                     absl::StrCat("expected a mapping, got ", NodeKind(root)));
    }
    absl::Status status = r.Mapping(
        root, "",
        {{"server", [&](const YAML::Node& n,
                        const std::string& p) { return ReadServer(r, n, p, &config.server); }},
         {"http", [&](const YAML::Node& n,
                      const std::string& p) { return ReadHttp(r, n, p, &config.http); }},
         {"auth", [&](const YAML::Node& n,
                      const std::string& p) { return ReadAuth(r, n, p, &config.auth); }},
         {"tls",
          [&](const YAML::Node& n, const std::string& p) { return ReadTls(r, n, p, &config.tls); }},
         {"engine", [&](const YAML::Node& n,
                        const std::string& p) { return ReadEngine(r, n, p, &config.engine); }},
         {"limits", [&](const YAML::Node& n,
                        const std::string& p) { return ReadLimits(r, n, p, &config.limits); }},
         {"logging", [&](const YAML::Node& n,
                         const std::string& p) { return ReadLogging(r, n, p, &config.logging); }},
         {"fine_tuning",
          [&](const YAML::Node& n,
              const std::string& p) { return ReadFineTuning(r, n, p, &config.fine_tuning); }},
         {"model_dir", [&](const YAML::Node& n,
                           const std::string& p) { return r.String(n, p, &config.model_dir); }},
         {"models", [&](const YAML::Node& n, const std::string& p) {
            return ReadModels(r, n, p, &config.models);
          }}});
    if (!status.ok()) return status;
  } catch (const YAML::Exception& e) {
    return r.Error(e.mark, "<yaml>", e.msg);
  }
  if (absl::Status status = ValidateConfig(config, source_name); !status.ok()) return status;
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error while reading config file '", path, "'"));
  }
  return ParseConfig(text.str(), path);
}

absl::Status ValidateConfig(const Config& config, absl::string_view source_name) {
  auto invalid = [&](absl::string_view path, absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", path, ": ", problem));
  };
  if (std::string p = ListenAddressProblem(config.server.grpc_address); !p.empty()) {
    return invalid("server.grpc_address", p);
  }
  if (std::string p = HttpAddressProblem(config.http.address); !p.empty()) {
    return invalid("http.address", p);
  }
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return invalid("tls", "cert_file and key_file must be set together");
  }
  if (!config.tls.client_ca_file.empty() && config.tls.cert_file.empty()) {
    return invalid("tls.client_ca_file",
                   "client certificates need TLS: set cert_file and key_file");
  }
  if (config.engine.max_batch_tokens < config.engine.max_running_sequences) {
    // Every running sequence must get its next token in every step.
    return invalid("engine.max_batch_tokens",
                   absl::StrCat("must be at least engine.max_running_sequences (",
                                config.engine.max_running_sequences, "), got ",
                                config.engine.max_batch_tokens));
  }
  if (config.fine_tuning.max_queued_jobs < config.fine_tuning.max_running_jobs) {
    return invalid("fine_tuning.max_queued_jobs",
                   absl::StrCat("must be at least fine_tuning.max_running_jobs (",
                                config.fine_tuning.max_running_jobs, "), got ",
                                config.fine_tuning.max_queued_jobs));
  }
  if (config.fine_tuning.max_file_bytes < 1 || config.fine_tuning.max_running_jobs < 1 ||
      config.fine_tuning.train_threads < 0) {
    return invalid("fine_tuning",
                   "max_file_bytes and max_running_jobs must be >= 1, "
                   "train_threads >= 0");
  }
  if (std::string p = LogLevelProblem(config.logging.level); !p.empty()) {
    return invalid("logging.level", p);
  }
  std::set<std::string> names;
  for (size_t i = 0; i < config.models.size(); ++i) {
    const ModelConfig& model = config.models[i];
    const std::string path = absl::StrCat("models[", i, "]");
    if (std::string p = ModelNameProblem(model.name); !p.empty()) {
      return invalid(path + ".name", p);
    }
    if (model.path.empty()) return invalid(path + ".path", "must not be empty");
    if (std::string p = DeviceProblem(model.device); !p.empty()) {
      return invalid(path + ".device", p);
    }
    if (!names.insert(model.name).second) {
      return invalid(path + ".name", absl::StrCat("model name '", model.name, "' is used twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::config
