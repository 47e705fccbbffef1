#include "engine/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trustformers::engine {

// The hot path promises no locks; a platform without lock-free doubles would break that quietly.
static_assert(std::atomic<double>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameStart(c) || IsDigit(c) || c == ':'; });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameStart(c) || IsDigit(c); });
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// The sample names a family writes; two families may not share one, or a scrape would mix them.
std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type != MetricType::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

absl::Status CheckDefinition(const std::string& name, MetricType type,
                             const std::vector<std::string>& label_names) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name '", name, "' does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter name '", name, "' must end in '_total'"));
  }
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("label name '", label, "' of metric '", name,
                       "' does not match [a-zA-Z_][a-zA-Z0-9_]* or starts with '__'"));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram '", name, "' may not use the label 'le': its buckets do"));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("label name '", label, "' appears twice in metric '", name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBounds(const std::string& name, std::vector<double>& upper_bounds) {
  // A trailing +Inf is what every bucket list ends with anyway; accept it and keep it implicit.
  if (!upper_bounds.empty() && upper_bounds.back() == std::numeric_limits<double>::infinity())
    upper_bounds.pop_back();
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram '", name, "': bucket bounds must be finite and strictly increasing"));
    }
  }
  return absl::OkStatus();
}

// Prometheus parses numbers with Go's ParseFloat: integers print plainly, others in the shortest
// form that reads back to the same double.
std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 0x1p63) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::vector<std::pair<std::string, std::string>> PairLabels(
    const std::vector<std::string>& names, const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.reserve(names.size() + 1);
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], values[i]);
  return labels;
}

void AppendChildSamples(const std::string& family, const std::vector<std::string>& label_names,
                        const std::vector<std::string>& label_values, const Counter& counter,
                        std::vector<MetricSample>& out) {
  out.push_back({family, PairLabels(label_names, label_values), counter.value()});
}

void AppendChildSamples(const std::string& family, const std::vector<std::string>& label_names,
                        const std::vector<std::string>& label_values, const Gauge& gauge,
                        std::vector<MetricSample>& out) {
  out.push_back({family, PairLabels(label_names, label_values), gauge.value()});
}

void AppendChildSamples(const std::string& family, const std::vector<std::string>& label_names,
                        const std::vector<std::string>& label_values, const Histogram& histogram,
                        std::vector<MetricSample>& out) {
  const Histogram::Snapshot snapshot = histogram.Read();
  const std::vector<double>& bounds = histogram.upper_bounds();
  const auto labels = PairLabels(label_names, label_values);
  for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
    auto bucket_labels = labels;
    bucket_labels.emplace_back("le", i < bounds.size() ? FormatNumber(bounds[i]) : "+Inf");
    out.push_back({family + "_bucket", std::move(bucket_labels),
                   static_cast<double>(snapshot.cumulative_counts[i])});
  }
  out.push_back({family + "_sum", labels, snapshot.sum});
  out.push_back(
      {family + "_count", labels, static_cast<double>(snapshot.cumulative_counts.back())});
}

}  // namespace

void Counter::Increment(double amount) {
  if (!(amount >= 0.0)) return;  // also rejects NaN
  value_.fetch_add(amount, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<uint64_t>[upper_bounds_.size() + 1]) {
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  const size_t bucket = std::isnan(value)
                            ? upper_bounds_.size()
                            : static_cast<size_t>(std::lower_bound(upper_bounds_.begin(),
                                                                   upper_bounds_.end(), value) -
                                                  upper_bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative_counts.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts[i] = running;
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60};
}

namespace metrics_internal {

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

template <typename Metric>
absl::StatusOr<Metric*> Family<Metric>::WithLabels(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric '", name(), "' takes ", label_names().size(), " label values (",
                     absl::StrJoin(label_names(), ", "), "), got ", label_values.size()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::unique_ptr<Metric>& child = children_[label_values];
  if (child == nullptr) child = NewChild();
  return child.get();
}

template <typename Metric>
void Family<Metric>::AppendSamples(std::vector<MetricSample>& out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [label_values, child] : children_) {
    AppendChildSamples(name(), label_names(), label_values, *child, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace metrics_internal

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names)) {}

std::unique_ptr<Counter> CounterFamily::NewChild() const { return std::make_unique<Counter>(); }

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names)) {}

std::unique_ptr<Gauge> GaugeFamily::NewChild() const { return std::make_unique<Gauge>(); }

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : Family(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

std::unique_ptr<Histogram> HistogramFamily::NewChild() const {
  return std::make_unique<Histogram>(upper_bounds_);
}

struct MetricsRegistry::CollectorEntry {
  CollectorId id;
  std::vector<CollectedFamily> families;
  Collector collector;
};

namespace {

// Gathers one scrape's collector samples per family, checking each against the declarations of
// the collector that is running.
class ScrapeSink final : public CollectorSink {
 public:
  struct Row {
    std::vector<std::string> label_values;
    double value;
  };

  void Begin(const std::vector<CollectedFamily>* declared) { declared_ = declared; }

  void Add(std::string_view family, std::vector<std::string> label_values, double value) override {
    for (const CollectedFamily& declared : *declared_) {
      if (declared.name != family) continue;
      if (declared.label_names.size() != label_values.size()) return;
      rows_[declared.name].push_back({std::move(label_values), value});
      return;
    }
  }

  std::map<std::string, std::vector<Row>>& rows() { return rows_; }

 private:
  const std::vector<CollectedFamily>* declared_ = nullptr;
  std::map<std::string, std::vector<Row>> rows_;
};

}  // namespace

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

absl::Status MetricsRegistry::CheckNewFamily(const std::string& name, MetricType type,
                                             const std::vector<std::string>& label_names,
                                             const std::vector<double>* upper_bounds,
                                             bool for_collector,
                                             metrics_internal::FamilyBase** existing) const {
  *existing = nullptr;
  if (absl::Status status = CheckDefinition(name, type, label_names); !status.ok()) return status;

  if (auto it = families_.find(name); it != families_.end()) {
    metrics_internal::FamilyBase& family = *it->second;
    const bool same_buckets =
        type != MetricType::kHistogram ||
        (upper_bounds != nullptr &&
         static_cast<const HistogramFamily&>(family).upper_bounds() == *upper_bounds);
    if (for_collector || family.type() != type || family.label_names() != label_names ||
        !same_buckets) {
      return absl::AlreadyExistsError(
          absl::StrCat("metric '", name, "' already exists as a ", TypeName(family.type()),
                       " with labels (", absl::StrJoin(family.label_names(), ", "), ")",
                       same_buckets ? "" : " and other bucket bounds",
                       for_collector ? "; a collector cannot report a registered family" : ""));
    }
    *existing = &family;
    return absl::OkStatus();
  }

  const std::vector<std::string> mine = SampleNames(name, type);
  auto clashes = [&](const std::string& other, MetricType other_type) {
    for (const std::string& sample : SampleNames(other, other_type)) {
      if (std::find(mine.begin(), mine.end(), sample) != mine.end()) return true;
    }
    return false;
  };
  for (const auto& [other, family] : families_) {
    if (clashes(other, family->type())) {
      return absl::AlreadyExistsError(absl::StrCat("metric '", name,
                                                   "' would share sample names with the ",
                                                   TypeName(family->type()), " '", other, "'"));
    }
  }
  for (const auto& [other, declared] : collected_) {
    const CollectedFamily& family = declared.first;
    if (for_collector && other == name && family.type == type &&
        family.label_names == label_names) {
      continue;  // several collectors may report one family, e.g. one collector per model
    }
    if (clashes(other, family.type)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "metric '", name, "' clashes with the collected ", TypeName(family.type), " '", other,
          "' with labels (", absl::StrJoin(family.label_names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<metrics_internal::FamilyBase*> MetricsRegistry::AddFamily(
    const std::string& name, MetricType type, const std::vector<std::string>& label_names,
    const std::vector<double>* upper_bounds,
    const std::function<std::unique_ptr<metrics_internal::FamilyBase>()>& make) {
  std::lock_guard<std::mutex> lock(families_mutex_);
  metrics_internal::FamilyBase* existing = nullptr;
  if (absl::Status status = CheckNewFamily(name, type, label_names, upper_bounds,
                                           /*for_collector=*/false, &existing);
      !status.ok()) {
    return status;
  }
  if (existing != nullptr) return existing;
  metrics_internal::FamilyBase* family = families_.emplace(name, make()).first->second.get();
  return family;
}

absl::StatusOr<CounterFamily*> MetricsRegistry::AddCounter(
    const std::string& name, const std::string& help, const std::vector<std::string>& label_names) {
  auto family = AddFamily(name, MetricType::kCounter, label_names, nullptr, [&] {
    auto created = std::make_unique<CounterFamily>(name, help, label_names);
    // Without labels there is exactly one child: create it so the family reads 0 at once.
    if (label_names.empty()) (void)created->WithLabels({});
    return created;
  });
  if (!family.ok()) return family.status();
  return static_cast<CounterFamily*>(*family);
}

absl::StatusOr<GaugeFamily*> MetricsRegistry::AddGauge(
    const std::string& name, const std::string& help, const std::vector<std::string>& label_names) {
  auto family = AddFamily(name, MetricType::kGauge, label_names, nullptr, [&] {
    auto created = std::make_unique<GaugeFamily>(name, help, label_names);
    if (label_names.empty()) (void)created->WithLabels({});
    return created;
  });
  if (!family.ok()) return family.status();
  return static_cast<GaugeFamily*>(*family);
}

absl::StatusOr<HistogramFamily*> MetricsRegistry::AddHistogram(
    const std::string& name, const std::string& help, const std::vector<std::string>& label_names,
    std::vector<double> upper_bounds) {
  if (absl::Status status = CheckBounds(name, upper_bounds); !status.ok()) return status;
  auto family = AddFamily(name, MetricType::kHistogram, label_names, &upper_bounds, [&] {
    auto created = std::make_unique<HistogramFamily>(name, help, label_names, upper_bounds);
    if (label_names.empty()) (void)created->WithLabels({});
    return created;
  });
  if (!family.ok()) return family.status();
  return static_cast<HistogramFamily*>(*family);
}

absl::StatusOr<CollectorId> MetricsRegistry::AddCollector(std::vector<CollectedFamily> families,
                                                          Collector collector) {
  std::lock_guard<std::mutex> collectors_lock(collectors_mutex_);
  std::lock_guard<std::mutex> families_lock(families_mutex_);
  std::set<std::string_view> names;
  for (const CollectedFamily& family : families) {
    if (family.type == MetricType::kHistogram) {
      return absl::InvalidArgumentError(absl::StrCat(
          "collected metric '", family.name, "': collectors report counters and gauges only"));
    }
    if (!names.insert(family.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("collected metric '", family.name, "' is declared twice"));
    }
    metrics_internal::FamilyBase* existing = nullptr;
    if (absl::Status status = CheckNewFamily(family.name, family.type, family.label_names, nullptr,
                                             /*for_collector=*/true, &existing);
        !status.ok()) {
      return status;
    }
  }
  for (const CollectedFamily& family : families) {
    auto [it, inserted] = collected_.try_emplace(family.name, family, 0);
    ++it->second.second;
  }
  const CollectorId id = next_collector_id_++;
  collectors_.push_back(std::make_unique<CollectorEntry>(
      CollectorEntry{id, std::move(families), std::move(collector)}));
  return id;
}

void MetricsRegistry::RemoveCollector(CollectorId id) {
  std::lock_guard<std::mutex> collectors_lock(collectors_mutex_);
  auto it = std::find_if(collectors_.begin(), collectors_.end(),
                         [id](const auto& entry) { return entry->id == id; });
  if (it == collectors_.end()) return;
  {
    std::lock_guard<std::mutex> families_lock(families_mutex_);
    for (const CollectedFamily& family : (*it)->families) {
      auto declared = collected_.find(family.name);
      if (--declared->second.second == 0) collected_.erase(declared);
    }
  }
  collectors_.erase(it);
}

std::vector<FamilySnapshot> MetricsRegistry::Collect() const {
  std::lock_guard<std::mutex> collectors_lock(collectors_mutex_);
  std::map<std::string, FamilySnapshot> snapshots;
  std::map<std::string, CollectedFamily> declarations;
  {
    std::lock_guard<std::mutex> families_lock(families_mutex_);
    for (const auto& [name, family] : families_) {
      FamilySnapshot& snapshot = snapshots[name];
      snapshot.name = name;
      snapshot.help = family->help();
      snapshot.type = family->type();
      family->AppendSamples(snapshot.samples);
    }
    for (const auto& [name, declared] : collected_) declarations.emplace(name, declared.first);
  }

  ScrapeSink sink;
  for (const auto& entry : collectors_) {
    sink.Begin(&entry->families);
    entry->collector(sink);
  }
  for (auto& [name, rows] : sink.rows()) {
    const CollectedFamily& declared = declarations.at(name);
    // Stable, so among equal label values the earliest collector's row comes first and stays.
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.label_values < b.label_values; });
    rows.erase(
        std::unique(rows.begin(), rows.end(),
                    [](const auto& a, const auto& b) { return a.label_values == b.label_values; }),
        rows.end());
    FamilySnapshot& snapshot = snapshots[name];
    snapshot.name = name;
    snapshot.help = declared.help;
    snapshot.type = declared.type;
    for (const ScrapeSink::Row& row : rows) {
      snapshot.samples.push_back(
          {name, PairLabels(declared.label_names, row.label_values), row.value});
    }
  }

  std::vector<FamilySnapshot> result;
  result.reserve(snapshots.size());
  for (auto& [name, snapshot] : snapshots) {
    if (!snapshot.samples.empty()) result.push_back(std::move(snapshot));
  }
  return result;
}

std::string MetricsRegistry::RenderPrometheusText() const {
  std::string out;
  for (const FamilySnapshot& family : Collect()) {
    if (!family.help.empty()) {
      absl::StrAppend(&out, "# HELP ", family.name, " ");
      AppendEscaped(out, family.help, /*escape_quote=*/false);
      out += '\n';
    }
    absl::StrAppend(&out, "# TYPE ", family.name, " ", TypeName(family.type), "\n");
    for (const MetricSample& sample : family.samples) {
      out += sample.name;
      if (!sample.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) out += ',';
          absl::StrAppend(&out, sample.labels[i].first, "=\"");
          AppendEscaped(out, sample.labels[i].second, /*escape_quote=*/true);
          out += '"';
        }
        out += '}';
      }
      absl::StrAppend(&out, " ", FormatNumber(sample.value), "\n");
    }
  }
  return out;
}

std::optional<double> MetricsRegistry::Value(
    std::string_view sample_name, const std::map<std::string, std::string>& labels) const {
  for (const FamilySnapshot& family : Collect()) {
    for (const MetricSample& sample : family.samples) {
      if (sample.name != sample_name || sample.labels.size() != labels.size()) continue;
      const bool match =
          std::all_of(sample.labels.begin(), sample.labels.end(), [&](const auto& label) {
            auto it = labels.find(label.first);
            return it != labels.end() && it->second == label.second;
          });
      if (match) return sample.value;
    }
  }
  return std::nullopt;
}

}  // namespace trustformers::engine
