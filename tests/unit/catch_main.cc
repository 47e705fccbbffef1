// The one translation unit that holds Catch2's main() for tf_unit_tests.
#define CATCH_CONFIG_MAIN
#include "catch2/catch.hpp"
