// Prometheus-style metrics: counters, gauges and histograms in named families with labels, plus
// collectors that compute values at scrape time. The REST gateway serves RenderPrometheusText() as
// `GET /metrics` (text exposition format 0.0.4); tests read single values with Value().
//
// Threading: everything here is thread-safe. Updating a child (Counter::Increment, Gauge::Set,
// Histogram::Observe) is lock-free, so hot paths look a child up once and keep the pointer;
// looking a child up and scraping take locks.
//
// Errors: names arrive from configuration and other modules, so creating a family returns a
// StatusOr instead of aborting: INVALID_ARGUMENT for a malformed name, label name or bucket list,
// ALREADY_EXISTS when the name (or one of its sample names) belongs to a different definition.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::engine {

enum class MetricType { kCounter, kGauge, kHistogram };

// A value that only goes up: requests served, tokens generated.
class Counter {
 public:
  // Adds `amount`. A negative or NaN amount is ignored, since a counter that goes down reads to
  // Prometheus as a process restart.
  void Increment(double amount = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down: requests running, KV blocks free.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Increment() { Add(1.0); }
  void Decrement() { Add(-1.0); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets by upper bound: latencies, token counts.
class Histogram {
 public:
  // `upper_bounds` strictly increasing and finite; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  // Counts `value` in the first bucket whose bound is >= value (NaN counts only in +Inf).
  void Observe(double value);

  struct Snapshot {
    // Cumulative: counts[i] observations were <= upper_bounds[i]; the last entry is +Inf, which
    // is also the total count.
    std::vector<uint64_t> cumulative_counts;
    double sum = 0.0;
  };
  // Buckets and sum are read one by one, so a snapshot taken during Observe may see the count
  // and the sum of that observation apart; the buckets always agree with each other.
  Snapshot Read() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  // Per bucket, not cumulative, so Observe touches one slot; the last slot is +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket bounds in seconds for request latencies: 1 ms to 60 s in 1-2-5 steps.
std::vector<double> DefaultLatencyBuckets();

// One sample of a scrape, as it appears in the text format.
struct MetricSample {
  // The family name, or for histograms the family name with _bucket, _sum or _count.
  std::string name;
  // In the family's label order; histogram buckets end with `le`.
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0.0;
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  // Children in order of their label values (byte-wise); a histogram child's samples are its
  // buckets in bound order, then _sum, then _count.
  std::vector<MetricSample> samples;
};

namespace metrics_internal {

// What every family shares; the typed families below add their children.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the samples of every child, in child order.
  virtual void AppendSamples(std::vector<MetricSample>& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

template <typename Metric>
class Family : public FamilyBase {
 public:
  // The child for `label_values` (one per label name, in order; any string), created at zero on
  // first use. The pointer stays valid as long as the registry. INVALID_ARGUMENT when the number
  // of values differs from the number of label names.
  absl::StatusOr<Metric*> WithLabels(const std::vector<std::string>& label_values);

  void AppendSamples(std::vector<MetricSample>& out) const override;

 protected:
  using FamilyBase::FamilyBase;
  virtual std::unique_ptr<Metric> NewChild() const = 0;

 private:
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // guarded by mutex_
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace metrics_internal

class CounterFamily final : public metrics_internal::Family<Counter> {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Counter> NewChild() const override;
};

class GaugeFamily final : public metrics_internal::Family<Gauge> {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Gauge> NewChild() const override;
};

class HistogramFamily final : public metrics_internal::Family<Histogram> {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  std::unique_ptr<Histogram> NewChild() const override;
  std::vector<double> upper_bounds_;
};

// A family whose values a collector computes at scrape time (counter or gauge).
struct CollectedFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<std::string> label_names;
};

// What a collector writes into during one scrape.
class CollectorSink {
 public:
  // Reports one sample of `family`, which the collector declared, with one label value per label
  // name. A sample of an undeclared family or with the wrong number of label values is dropped:
  // a programmer error, which a test of the collector sees through MetricsRegistry::Value().
  virtual void Add(std::string_view family, std::vector<std::string> label_values,
                   double value) = 0;

 protected:
  ~CollectorSink() = default;
};

using Collector = std::function<void(CollectorSink&)>;
using CollectorId = uint64_t;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Creates a family, or returns the existing one when `name` was created before with the same
  // type, label names (and bounds); the first help text is kept. Metric names match
  // [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__".
  // Counter names must end in "_total" (rendered as given); histograms may not use the label
  // "le". A family without labels has its one child from the start, so it renders as 0.
  absl::StatusOr<CounterFamily*> AddCounter(const std::string& name, const std::string& help,
                                            const std::vector<std::string>& label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(const std::string& name, const std::string& help,
                                        const std::vector<std::string>& label_names = {});
  absl::StatusOr<HistogramFamily*> AddHistogram(
      const std::string& name, const std::string& help,
      const std::vector<std::string>& label_names = {},
      std::vector<double> upper_bounds = DefaultLatencyBuckets());

  // Registers `collector`, called on every scrape with a sink that accepts samples of the
  // `families` it declares. Several collectors may declare the same family (same type and label
  // names), e.g. one per model each reporting its own `model` label; when two report the same
  // label values, the earlier-registered collector's sample wins. Names are checked as above.
  // The collector runs on the scraping thread, with a registry lock held: it must be quick and
  // must not scrape, read Value(), or add or remove collectors.
  absl::StatusOr<CollectorId> AddCollector(std::vector<CollectedFamily> families,
                                           Collector collector);
  // After this returns the collector is not running and is never called again, so whatever it
  // captured may be destroyed. Unknown ids are ignored.
  void RemoveCollector(CollectorId id);

  // Every family that has at least one sample, sorted by name, collectors included.
  std::vector<FamilySnapshot> Collect() const;

  // The text exposition format 0.0.4 of Collect(): # HELP, # TYPE, then the samples.
  std::string RenderPrometheusText() const;

  // The value of one sample named as in the text format (e.g. "x_total", "h_count", "h_sum",
  // "h_bucket" with an "le" label) whose labels equal `labels` exactly; nullopt when absent.
  std::optional<double> Value(std::string_view sample_name,
                              const std::map<std::string, std::string>& labels = {}) const;

 private:
  struct CollectorEntry;

  // Checks a definition against the families and collector declarations present. Sets *existing
  // to the registered family of the same definition, if any; `for_collector` lets a declaration
  // match other collectors' declarations of the same definition. Requires families_mutex_.
  absl::Status CheckNewFamily(const std::string& name, MetricType type,
                              const std::vector<std::string>& label_names,
                              const std::vector<double>* upper_bounds, bool for_collector,
                              metrics_internal::FamilyBase** existing) const;
  // The family `name`: the existing one of the same definition, or a new one from `make`.
  absl::StatusOr<metrics_internal::FamilyBase*> AddFamily(
      const std::string& name, MetricType type, const std::vector<std::string>& label_names,
      const std::vector<double>* upper_bounds,
      const std::function<std::unique_ptr<metrics_internal::FamilyBase>()>& make);

  // Held while collectors run, so RemoveCollector waits for a scrape in progress. Taken before
  // families_mutex_ where both are needed.
  mutable std::mutex collectors_mutex_;
  std::vector<std::unique_ptr<CollectorEntry>> collectors_;  // guarded by collectors_mutex_
  CollectorId next_collector_id_ = 1;                        // guarded by collectors_mutex_

  mutable std::mutex families_mutex_;
  // guarded by families_mutex_
  std::map<std::string, std::unique_ptr<metrics_internal::FamilyBase>> families_;
  // Declarations of live collectors, by name with a count of collectors declaring each.
  // guarded by families_mutex_
  std::map<std::string, std::pair<CollectedFamily, int>> collected_;
};

}  // namespace trustformers::engine
