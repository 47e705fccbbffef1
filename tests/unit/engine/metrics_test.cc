#include "engine/metrics.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::engine {
namespace {

template <typename T>
T* Ok(absl::StatusOr<T*> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

// Runs `body` on `threads` threads at once and waits for all of them.
template <typename Body>
void RunConcurrently(int threads, Body body) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back([&body, t] { body(t); });
  for (std::thread& worker : workers) worker.join();
}

constexpr int kThreads = 8;
constexpr int kPerThread = 20000;

TEST_CASE("metrics: counters and gauges add up exactly under concurrent updates", "[metrics]") {
  MetricsRegistry registry;
  CounterFamily* requests = Ok(registry.AddCounter("t_requests_total", "Requests.", {"model"}));
  Counter* a = Ok(requests->WithLabels({"a"}));
  GaugeFamily* running = Ok(registry.AddGauge("t_running", "Running."));
  Gauge* gauge = Ok(running->WithLabels({}));

  RunConcurrently(kThreads, [&](int t) {
    // Half the threads look the child up each time, to race child creation with updates.
    for (int i = 0; i < kPerThread; ++i) {
      // No Catch2 assertions in here: they are not thread-safe.
      Counter* counter = t % 2 == 0 ? a : *requests->WithLabels({"b"});
      counter->Increment();
      gauge->Add(1.0);
      if (i % 2 == 0) gauge->Add(-0.5);
    }
  });

  CHECK(a->value() == kThreads / 2 * kPerThread);
  CHECK(registry.Value("t_requests_total", {{"model", "b"}}) == kThreads / 2 * kPerThread);
  CHECK(registry.Value("t_running") == kThreads * kPerThread * 0.75);
}

TEST_CASE("metrics: histograms count every concurrent observation", "[metrics]") {
  MetricsRegistry registry;
  HistogramFamily* family = Ok(registry.AddHistogram("t_latency_seconds", "Latency.", {}, {1, 10}));
  Histogram* histogram = Ok(family->WithLabels({}));

  // Binary fractions, so the sum is exact in any order.
  RunConcurrently(kThreads, [&](int) {
    for (int i = 0; i < kPerThread; ++i)
      histogram->Observe(i % 3 == 0 ? 0.5 : i % 3 == 1 ? 2 : 100);
  });

  const int64_t halves = kThreads * ((kPerThread + 2) / 3);
  const int64_t twos = kThreads * ((kPerThread + 1) / 3);
  const int64_t hundreds = kThreads * (kPerThread / 3);
  CHECK(registry.Value("t_latency_seconds_bucket", {{"le", "1"}}) == halves);
  CHECK(registry.Value("t_latency_seconds_bucket", {{"le", "10"}}) == halves + twos);
  CHECK(registry.Value("t_latency_seconds_bucket", {{"le", "+Inf"}}) == kThreads * kPerThread);
  CHECK(registry.Value("t_latency_seconds_count") == kThreads * kPerThread);
  CHECK(registry.Value("t_latency_seconds_sum") == 0.5 * halves + 2.0 * twos + 100.0 * hundreds);
}

TEST_CASE("metrics: buckets are cumulative and bounds inclusive", "[metrics]") {
  MetricsRegistry registry;
  HistogramFamily* family = Ok(registry.AddHistogram("t_h", "", {"model"}, {1, 2, 5}));
  Histogram* histogram = Ok(family->WithLabels({"m"}));
  for (double value : {0.5, 1.0, 1.5, 3.0, 7.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    histogram->Observe(value);
  }
  auto bucket = [&](const std::string& le) {
    return registry.Value("t_h_bucket", {{"model", "m"}, {"le", le}});
  };
  CHECK(bucket("1") == 3);  // -1, 0.5 and 1: a bound includes its own value
  CHECK(bucket("2") == 4);
  CHECK(bucket("5") == 5);
  CHECK(bucket("+Inf") == 7);  // NaN counts only in +Inf
  CHECK(registry.Value("t_h_count", {{"model", "m"}}) == 7);
  CHECK(std::isnan(*registry.Value("t_h_sum", {{"model", "m"}})));

  const Histogram::Snapshot snapshot = histogram->Read();
  CHECK(snapshot.cumulative_counts == std::vector<uint64_t>{3, 4, 5, 7});
}

TEST_CASE("metrics: counters ignore negative and NaN increments", "[metrics]") {
  MetricsRegistry registry;
  Counter* counter = Ok(Ok(registry.AddCounter("t_total", "T."))->WithLabels({}));
  counter->Increment(2.5);
  counter->Increment(-1);
  counter->Increment(std::numeric_limits<double>::quiet_NaN());
  CHECK(counter->value() == 2.5);
}

TEST_CASE("metrics: label values and help text are escaped", "[metrics]") {
  MetricsRegistry registry;
  GaugeFamily* family = Ok(registry.AddGauge(
      "t_gauge", "First line\nsecond \\ line with \"quotes\"", {"path", "plain"}));
  Ok(family->WithLabels({"a\\b\"c\nd", "x y"}))->Set(1);
  CHECK(registry.RenderPrometheusText() ==
        "# HELP t_gauge First line\\nsecond \\\\ line with \"quotes\"\n"
        "# TYPE t_gauge gauge\n"
        "t_gauge{path=\"a\\\\b\\\"c\\nd\",plain=\"x y\"} 1\n");
  CHECK(registry.Value("t_gauge", {{"path", "a\\b\"c\nd"}, {"plain", "x y"}}) == 1);
}

TEST_CASE("metrics: numbers render the way Prometheus parses them", "[metrics]") {
  MetricsRegistry registry;
  GaugeFamily* family = Ok(registry.AddGauge("t_n", "", {"case"}));
  Ok(family->WithLabels({"a_million"}))->Set(1e6);
  Ok(family->WithLabels({"b_fraction"}))->Set(0.25);
  Ok(family->WithLabels({"c_negative"}))->Set(-3);
  Ok(family->WithLabels({"d_inf"}))->Set(std::numeric_limits<double>::infinity());
  Ok(family->WithLabels({"e_minus_inf"}))->Set(-std::numeric_limits<double>::infinity());
  Ok(family->WithLabels({"f_nan"}))->Set(std::numeric_limits<double>::quiet_NaN());
  Ok(family->WithLabels({"g_tiny"}))->Set(1e-5);
  Ok(family->WithLabels({"h_huge"}))->Set(1e20);
  Ok(family->WithLabels({"i_third"}))->Set(1.0 / 3.0);
  CHECK(registry.RenderPrometheusText() ==
        "# TYPE t_n gauge\n"
        "t_n{case=\"a_million\"} 1000000\n"
        "t_n{case=\"b_fraction\"} 0.25\n"
        "t_n{case=\"c_negative\"} -3\n"
        "t_n{case=\"d_inf\"} +Inf\n"
        "t_n{case=\"e_minus_inf\"} -Inf\n"
        "t_n{case=\"f_nan\"} NaN\n"
        "t_n{case=\"g_tiny\"} 1e-05\n"
        "t_n{case=\"h_huge\"} 1e+20\n"
        "t_n{case=\"i_third\"} 0.3333333333333333\n");
}

TEST_CASE("metrics: golden text of a small registry", "[metrics]") {
  MetricsRegistry registry;
  // Created out of name order: the text is sorted by family name, children by label values.
  HistogramFamily* ttft = Ok(registry.AddHistogram("trustformers_time_to_first_token_seconds",
                                                   "Time to first token.", {}, {0.1, 0.5, 1}));
  CounterFamily* requests = Ok(registry.AddCounter("trustformers_http_requests_total",
                                                   "HTTP requests answered.", {"method", "code"}));
  GaugeFamily* running =
      Ok(registry.AddGauge("trustformers_num_requests_running", "Requests being decoded."));
  Ok(registry.AddGauge("trustformers_unused", "Labelled, no child yet: not rendered.", {"x"}));
  Ok(registry.AddCounter("trustformers_errors_total", "No labels: rendered as 0."));

  Ok(requests->WithLabels({"POST", "400"}))->Increment();
  Ok(requests->WithLabels({"GET", "200"}))->Increment(2);
  Ok(running->WithLabels({}))->Set(3);
  Histogram* histogram = Ok(ttft->WithLabels({}));
  for (double seconds : {0.25, 0.5, 2.0}) histogram->Observe(seconds);

  CHECK(registry.RenderPrometheusText() ==
        "# HELP trustformers_errors_total No labels: rendered as 0.\n"
        "# TYPE trustformers_errors_total counter\n"
        "trustformers_errors_total 0\n"
        "# HELP trustformers_http_requests_total HTTP requests answered.\n"
        "# TYPE trustformers_http_requests_total counter\n"
        "trustformers_http_requests_total{method=\"GET\",code=\"200\"} 2\n"
        "trustformers_http_requests_total{method=\"POST\",code=\"400\"} 1\n"
        "# HELP trustformers_num_requests_running Requests being decoded.\n"
        "# TYPE trustformers_num_requests_running gauge\n"
        "trustformers_num_requests_running 3\n"
        "# HELP trustformers_time_to_first_token_seconds Time to first token.\n"
        "# TYPE trustformers_time_to_first_token_seconds histogram\n"
        "trustformers_time_to_first_token_seconds_bucket{le=\"0.1\"} 0\n"
        "trustformers_time_to_first_token_seconds_bucket{le=\"0.5\"} 2\n"
        "trustformers_time_to_first_token_seconds_bucket{le=\"1\"} 2\n"
        "trustformers_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3\n"
        "trustformers_time_to_first_token_seconds_sum 2.75\n"
        "trustformers_time_to_first_token_seconds_count 3\n");
}

TEST_CASE("metrics: collectors report at scrape time until removed", "[metrics]") {
  MetricsRegistry registry;
  auto running_a = std::make_shared<int>(2);
  const CollectedFamily family{"t_running", "Sequences running.", MetricType::kGauge, {"model"}};
  const CollectorId a = *registry.AddCollector({family}, [running_a](CollectorSink& sink) {
    sink.Add("t_running", {"model-a"}, *running_a);
  });
  // A second collector of the same family, as one per model.
  absl::StatusOr<CollectorId> b = registry.AddCollector(
      {family, {"t_loaded_total", "Loads.", MetricType::kCounter, {}}}, [](CollectorSink& sink) {
        sink.Add("t_running", {"model-b"}, 5);
        sink.Add("t_running", {"model-a"}, 99);       // same labels as collector a: a wins
        sink.Add("t_running", {"x", "too many"}, 1);  // wrong label count: dropped
        sink.Add("t_undeclared", {}, 1);              // not declared: dropped
        sink.Add("t_loaded_total", {}, 7);
      });
  REQUIRE(b.ok());

  CHECK(registry.Value("t_running", {{"model", "model-a"}}) == 2);
  *running_a = 4;  // read at every scrape
  CHECK(registry.RenderPrometheusText() ==
        "# HELP t_loaded_total Loads.\n"
        "# TYPE t_loaded_total counter\n"
        "t_loaded_total 7\n"
        "# HELP t_running Sequences running.\n"
        "# TYPE t_running gauge\n"
        "t_running{model=\"model-a\"} 4\n"
        "t_running{model=\"model-b\"} 5\n");

  registry.RemoveCollector(a);
  CHECK(registry.Value("t_running", {{"model", "model-a"}}) == 99);
  registry.RemoveCollector(*b);
  registry.RemoveCollector(*b);  // unknown ids are ignored
  CHECK(registry.RenderPrometheusText().empty());
  CHECK_FALSE(registry.Value("t_running", {{"model", "model-b"}}).has_value());

  // Once no collector declares it, the name is free for any definition.
  CHECK(registry.AddCounter("t_loaded_total", "Now registered.").ok());
}

TEST_CASE("metrics: RemoveCollector waits for a scrape that is running it", "[metrics]") {
  MetricsRegistry registry;
  std::atomic<bool> inside{false};
  std::atomic<bool> entered{false};
  const CollectorId id =
      *registry.AddCollector({{"t_slow", "", MetricType::kGauge, {}}}, [&](CollectorSink& sink) {
        inside = true;
        entered = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        sink.Add("t_slow", {}, 1);
        inside = false;
      });
  std::thread scrape([&] { (void)registry.RenderPrometheusText(); });
  while (!entered) std::this_thread::yield();
  registry.RemoveCollector(id);
  const bool inside_after_remove = inside;
  scrape.join();
  CHECK_FALSE(inside_after_remove);
  CHECK_FALSE(registry.Value("t_slow").has_value());
}

TEST_CASE("metrics: scrapes, family creation and collectors race safely with updates",
          "[metrics]") {
  MetricsRegistry registry;
  CounterFamily* family = Ok(registry.AddCounter("t_events_total", "", {"thread"}));
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    int round = 0;
    while (!done) {
      const std::string model = "m" + std::to_string(round++ % 4);
      auto id = registry.AddCollector(
          {{"t_running", "", MetricType::kGauge, {"model"}}},
          [model](CollectorSink& sink) { sink.Add("t_running", {model}, 1); });
      (void)registry.RenderPrometheusText();
      (void)registry.AddGauge("t_gauge_" + std::to_string(round % 16), "");
      if (id.ok()) registry.RemoveCollector(*id);
    }
  });
  RunConcurrently(4, [&](int t) {
    Counter* counter = *family->WithLabels({std::to_string(t)});
    for (int i = 0; i < kPerThread; ++i) counter->Increment();
  });
  done = true;
  scraper.join();
  for (int t = 0; t < 4; ++t) {
    CHECK(registry.Value("t_events_total", {{"thread", std::to_string(t)}}) == kPerThread);
  }
  CHECK_FALSE(registry.Value("t_running", {{"model", "m0"}}).has_value());
}

TEST_CASE("metrics: collector declarations are checked", "[metrics]") {
  MetricsRegistry registry;
  REQUIRE(registry.AddGauge("t_registered", "").ok());
  auto add = [&](CollectedFamily family) {
    return registry.AddCollector({std::move(family)}, [](CollectorSink&) {}).status().code();
  };
  CHECK(add({"t_registered", "", MetricType::kGauge, {}}) == absl::StatusCode::kAlreadyExists);
  CHECK(add({"t_h", "", MetricType::kHistogram, {}}) == absl::StatusCode::kInvalidArgument);
  CHECK(add({"t-bad", "", MetricType::kGauge, {}}) == absl::StatusCode::kInvalidArgument);
  CHECK(add({"t_c", "", MetricType::kCounter, {}}) == absl::StatusCode::kInvalidArgument);
  CHECK(add({"t_shared", "", MetricType::kGauge, {"model"}}) == absl::StatusCode::kOk);
  CHECK(add({"t_shared", "", MetricType::kGauge, {"model"}}) == absl::StatusCode::kOk);
  CHECK(add({"t_shared", "", MetricType::kGauge, {"other"}}) == absl::StatusCode::kAlreadyExists);
  CHECK(add({"t_shared", "", MetricType::kGauge, {}}) == absl::StatusCode::kAlreadyExists);
  CHECK(add({"t_c_total", "", MetricType::kCounter, {}}) == absl::StatusCode::kOk);
  CHECK(add({"t_c_total", "", MetricType::kGauge, {}}) == absl::StatusCode::kAlreadyExists);
  CHECK(registry.AddGauge("t_shared", "").status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(registry
            .AddCollector(
                {{"t_twice", "", MetricType::kGauge, {}}, {"t_twice", "", MetricType::kGauge, {}}},
                [](CollectorSink&) {})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("metrics: invalid names are rejected", "[metrics]") {
  MetricsRegistry registry;
  for (const char* name : {"", "1abc", "a-b", "a b", "a.b", "é"}) {
    INFO(name);
    CHECK(registry.AddGauge(name, "").status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(registry.AddGauge(":colon:ok_1", "").ok());
  CHECK(registry.AddGauge("_x", "").ok());

  for (const char* label : {"", "1a", "a:b", "__reserved", "a-b"}) {
    INFO(label);
    CHECK(registry.AddGauge("t_labelled", "", {label}).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(registry.AddGauge("t_labelled", "", {"_ok", "ok2"}).ok());
  CHECK(registry.AddGauge("t_dup", "", {"a", "a"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.AddCounter("t_requests", "").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.AddHistogram("t_h", "", {"le"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.AddHistogram("t_h", "", {}, {1, 1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.AddHistogram("t_h", "", {}, {2, 1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.AddHistogram("t_h", "", {}, {std::nan("")}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // A trailing +Inf is accepted and stays implicit.
  HistogramFamily* h =
      Ok(registry.AddHistogram("t_h", "", {}, {1, std::numeric_limits<double>::infinity()}));
  CHECK(h->upper_bounds() == std::vector<double>{1});

  GaugeFamily* labelled = Ok(registry.AddGauge("t_labelled", "", {"_ok", "ok2"}));
  CHECK(labelled->WithLabels({"one"}).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("metrics: the same definition returns the same family, another is an error",
          "[metrics]") {
  MetricsRegistry registry;
  CounterFamily* first = Ok(registry.AddCounter("t_total", "Help.", {"a"}));
  CHECK(Ok(registry.AddCounter("t_total", "Other help is tolerated.", {"a"})) == first);
  CHECK(registry.AddCounter("t_total", "", {"b"}).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(registry.AddGauge("t_total", "", {"a"}).status().code() ==
        absl::StatusCode::kAlreadyExists);

  HistogramFamily* histogram = Ok(registry.AddHistogram("t_seconds", ""));
  CHECK(histogram->upper_bounds() == DefaultLatencyBuckets());
  CHECK(Ok(registry.AddHistogram("t_seconds", "")) == histogram);
  CHECK(registry.AddHistogram("t_seconds", "", {}, {1, 2}).status().code() ==
        absl::StatusCode::kAlreadyExists);
  // Sample names may not collide across families either.
  CHECK(registry.AddGauge("t_seconds_count", "").status().code() ==
        absl::StatusCode::kAlreadyExists);
  REQUIRE(registry.AddGauge("t_other_sum", "").ok());
  CHECK(registry.AddHistogram("t_other", "").status().code() == absl::StatusCode::kAlreadyExists);

  // Children are stable: the same labels give the same child.
  CHECK(Ok(first->WithLabels({"x"})) == Ok(first->WithLabels({"x"})));
}

}  // namespace
}  // namespace trustformers::engine
