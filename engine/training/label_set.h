// Class labels of a text-classification dataset: their names in id order (the model's id2label)
// and the rules that turn each record's label into a class id. Which rules apply depends on what
// the caller knows (LabelSpec):
//
//   names given   (optionally with count == names.size()) A JSON string must be one of the names.
//                 A JSON integer must be in [0, n). A CSV/TSV field that equals a name is that
//                 name, else a decimal integer in [0, n) is an id, else it is unknown. (So CSV
//                 names "1".."5" for star ratings mean what they say.)
//   count only    Ids only: a JSON integer or CSV/TSV decimal integer in [0, count). Any other
//                 label is an error (give the names to use names). Names are "LABEL_0", ... as
//                 transformers writes for id2label.
//   neither       Discovered from the training file: if every label is an integer (JSON
//                 integers, or CSV/TSV fields that are decimal integers), the labels are ids and
//                 count = the largest + 1, named "LABEL_<id>"; otherwise every label is a name
//                 and the names are the distinct labels sorted by byte order (CSV/TSV fields that
//                 look like integers included). A JSON file mixing integers and strings is an
//                 error naming the first line that differs from the first record.
//
// The validation file of a job uses the training file's set: pass training_set.spec(), which
// reproduces it (a discovered set of ids stays ids-only). Every error is an INVALID_ARGUMENT
// LineError (line_error.h) naming the file and line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/training/text_records.h"

namespace trustformers::training {

// More classes than any classification head here needs; it keeps a stray huge integer label from
// sizing a head (and its id2label) in the billions.
inline constexpr int64_t kMaxLabels = 65536;

// What the caller knows about the labels; both empty means "discover them".
struct LabelSpec {
  std::vector<std::string> names;
  int64_t count = 0;
};

class LabelSet {
 public:
  // Names in id order. INVALID_ARGUMENT for none, an empty or repeated name, or more than
  // kMaxLabels.
  static absl::StatusOr<LabelSet> FromNames(std::vector<std::string> names);
  // `count` classes taken as ids only. INVALID_ARGUMENT unless 1 <= count <= kMaxLabels.
  static absl::StatusOr<LabelSet> FromCount(int64_t count);
  // The rules above; `records` and `file` are the training file's (used only for discovery).
  static absl::StatusOr<LabelSet> Resolve(const LabelSpec& spec,
                                          const std::vector<TextRecord>& records,
                                          absl::string_view file);

  size_t size() const { return names_.size(); }
  // id2label.
  const std::vector<std::string>& names() const { return names_; }
  // Whether labels may be given by name (false for a count-only set).
  bool by_name() const { return by_name_; }
  // The spec that Resolve turns back into this set.
  LabelSpec spec() const;

  // The class id of one record's label, or a LineError naming file and line.
  absl::StatusOr<int64_t> Id(const LabelValue& label, absl::string_view file, int64_t line) const;

 private:
  LabelSet(std::vector<std::string> names, bool by_name);

  std::vector<std::string> names_;
  bool by_name_ = true;
  absl::flat_hash_map<std::string, int64_t> ids_;  // names_ inverted, when by_name_
};

// Every record's class id, in order; the first bad label fails them all.
absl::StatusOr<std::vector<int64_t>> LabelIds(const LabelSet& labels,
                                              const std::vector<TextRecord>& records,
                                              absl::string_view file);

}  // namespace trustformers::training
