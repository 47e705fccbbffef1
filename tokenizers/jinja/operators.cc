#include "tokenizers/jinja/operators.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

absl::Status UndefinedError(const Value& value) {
  const std::string& message = value.undefined_message();
  return absl::InvalidArgumentError(message.empty() ? std::string("value is undefined") : message);
}

const char* Symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kFloorDiv:
      return "//";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "** or pow()";
  }
  return "?";
}

absl::Status Unsupported(BinaryOp op, const Value& left, const Value& right) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", Symbol(op),
                                                 ": '", TypeName(left), "' and '", TypeName(right),
                                                 "'"));
}

absl::Status Overflow() {
  return absl::InvalidArgumentError(
      "unsupported: integer result beyond 64 bits (Python would switch to a big integer)");
}

bool IsAscii(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Python's float % and //, which take the sign of the divisor.
double FloatMod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double FloatFloorDiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

absl::StatusOr<Value> IntPow(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if ((exponent & 1) != 0 && __builtin_mul_overflow(result, base, &result)) return Overflow();
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
  }
  return Value::Int(result);
}

absl::StatusOr<Value> Arithmetic(BinaryOp op, const Value& left, const Value& right) {
  if (left.IsIntegral() && right.IsIntegral()) {
    const int64_t a = left.int_value();
    const int64_t b = right.int_value();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(a, b, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kSub:
        if (__builtin_sub_overflow(a, b, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kMul:
        if (__builtin_mul_overflow(a, b, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kDiv:
        if (b == 0) return absl::InvalidArgumentError("division by zero");
        return Value::Float(static_cast<double>(a) / static_cast<double>(b));
      case BinaryOp::kFloorDiv: {
        if (b == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1) return Overflow();
        int64_t q = a / b;
        if (a % b != 0 && ((a < 0) != (b < 0))) --q;
        return Value::Int(q);
      }
      case BinaryOp::kMod: {
        if (b == 0) return absl::InvalidArgumentError("integer modulo by zero");
        if (b == -1) return Value::Int(0);
        int64_t m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        return Value::Int(m);
      }
      case BinaryOp::kPow:
        if (b >= 0) return IntPow(a, b);
        if (a == 0) {
          return absl::InvalidArgumentError("0.0 cannot be raised to a negative power");
        }
        return Value::Float(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
  }
  const double x = left.number_value();
  const double y = right.number_value();
  switch (op) {
    case BinaryOp::kAdd:
      return Value::Float(x + y);
    case BinaryOp::kSub:
      return Value::Float(x - y);
    case BinaryOp::kMul:
      return Value::Float(x * y);
    case BinaryOp::kDiv:
      if (y == 0) return absl::InvalidArgumentError("float division by zero");
      return Value::Float(x / y);
    case BinaryOp::kFloorDiv:
      if (y == 0) return absl::InvalidArgumentError("float floor division by zero");
      return Value::Float(FloatFloorDiv(x, y));
    case BinaryOp::kMod:
      if (y == 0) return absl::InvalidArgumentError("float modulo");
      return Value::Float(FloatMod(x, y));
    case BinaryOp::kPow: {
      if (x == 0 && y < 0) {
        return absl::InvalidArgumentError("0.0 cannot be raised to a negative power");
      }
      if (x < 0 && y != std::floor(y)) {
        return absl::InvalidArgumentError("unsupported: complex result of **");
      }
      const double r = std::pow(x, y);
      if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) {
        return absl::InvalidArgumentError("(34, 'Numerical result out of range')");
      }
      return Value::Float(r);
    }
  }
  return Unsupported(op, left, right);
}

absl::StatusOr<Value> Repeat(Interpreter& interpreter, const Value& sequence, int64_t times) {
  if (times <= 0) {
    if (sequence.IsString()) return Value::StringLike(sequence, "");
    return Value::List({}, sequence.list().kind);
  }
  if (sequence.IsString()) {
    const std::string& text = sequence.string();
    if (!text.empty() &&
        static_cast<uint64_t>(times) > interpreter.limits().max_output_bytes / text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chat template built a string over ", interpreter.limits().max_output_bytes, " bytes"));
    }
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(text.size() * static_cast<size_t>(times)));
    std::string out;
    out.reserve(text.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out.append(text);
    return Value::StringLike(sequence, std::move(out));
  }
  const std::vector<Value>& items = sequence.list().items;
  if (!items.empty() &&
      static_cast<uint64_t>(times) > static_cast<uint64_t>(interpreter.limits().max_steps)) {
    return absl::InvalidArgumentError("chat template exceeded its work limit");
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(items.size()) * times));
  std::vector<Value> out;
  out.reserve(items.size() * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::List(std::move(out), sequence.list().kind);
}

absl::StatusOr<Value> Add(Interpreter& interpreter, const Value& left, const Value& right) {
  if (left.IsString() && right.IsString()) {
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(left.string().size() + right.string().size()));
    if (left.IsMarkup() || right.IsMarkup()) {
      // markupsafe: the plain side is escaped and the result stays safe.
      const std::string a = left.IsMarkup() ? left.string() : HtmlEscape(left.string());
      const std::string b = right.IsMarkup() ? right.string() : HtmlEscape(right.string());
      return Value::Markup(absl::StrCat(a, b));
    }
    return Value::String(absl::StrCat(left.string(), right.string()));
  }
  if (left.IsSequence() && right.IsSequence() && left.list().kind == right.list().kind) {
    JINJA_RETURN_IF_ERROR(interpreter.Charge(
        static_cast<int64_t>(left.list().items.size() + right.list().items.size())));
    std::vector<Value> items = left.list().items;
    items.insert(items.end(), right.list().items.begin(), right.list().items.end());
    return Value::List(std::move(items), left.list().kind);
  }
  if (left.IsNumber() && right.IsNumber()) return Arithmetic(BinaryOp::kAdd, left, right);
  if (left.IsString() && !left.IsMarkup()) {
    return absl::InvalidArgumentError(
        absl::StrCat("can only concatenate str (not \"", TypeName(right), "\") to str"));
  }
  if (left.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat("can only concatenate ", TypeName(left),
                                                   " (not \"", TypeName(right), "\") to ",
                                                   TypeName(left)));
  }
  return Unsupported(BinaryOp::kAdd, left, right);
}

// Python's printf-style `text % args` for the plain conversions %s, %r, %d, %i and %%; flags,
// widths, precisions and %(name)s keys are refused.
absl::StatusOr<Value> PercentFormat(Interpreter& interpreter, const Value& format,
                                    const Value& args) {
  std::vector<Value> values;
  if (args.IsTuple()) {
    values = args.list().items;
  } else {
    values.push_back(args);
  }
  const std::string& text = format.string();
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 >= text.size()) return absl::InvalidArgumentError("incomplete format");
    const char conversion = text[++i];
    if (conversion == '%') {
      out.push_back('%');
      continue;
    }
    if (conversion != 's' && conversion != 'r' && conversion != 'd' && conversion != 'i') {
      return absl::InvalidArgumentError(
          "unsupported: printf-style formatting other than %s, %r, %d, %i");
    }
    if (next >= values.size()) {
      return absl::InvalidArgumentError("not enough arguments for format string");
    }
    const Value& value = values[next++];
    if (conversion == 's' || conversion == 'r') {
      const size_t limit = interpreter.limits().max_output_bytes + 1;
      std::string piece = conversion == 's' ? Str(value, limit) : Repr(value, limit);
      // A safe format string escapes what it takes in, as markupsafe does.
      out.append(format.IsMarkup() && !value.IsMarkup() ? HtmlEscape(piece) : piece);
    } else if (value.IsIntegral()) {
      absl::StrAppend(&out, value.int_value());
    } else if (value.IsFloat()) {
      if (std::isnan(value.float_value())) {
        return absl::InvalidArgumentError("cannot convert float NaN to integer");
      }
      if (std::isinf(value.float_value())) {
        return absl::InvalidArgumentError("cannot convert float infinity to integer");
      }
      if (std::fabs(value.float_value()) >= 9.2e18) return Overflow();
      absl::StrAppend(&out, static_cast<int64_t>(std::trunc(value.float_value())));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("%", std::string(1, conversion),
                                                     " format: a real number is required, not ",
                                                     TypeName(value)));
    }
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  }
  // Python skips this check when the argument could be a mapping (anything with
  // __getitem__ but a tuple or str).
  const bool mapping_like = args.IsDict() || args.IsUndefined() ||
                            (args.IsList() && !args.IsTuple() && !args.IsIterator());
  if (next < values.size() && !mapping_like) {
    return absl::InvalidArgumentError("not all arguments converted during string formatting");
  }
  return format.IsMarkup() ? Value::Markup(std::move(out)) : Value::String(std::move(out));
}

absl::StatusOr<int64_t> SliceIndex(const Value& value) {
  if (value.IsIntegral()) return value.int_value();
  if (value.IsUndefined()) return UndefinedError(value);
  return absl::InvalidArgumentError(
      "slice indices must be integers or None or have an __index__ method");
}

}  // namespace

absl::StatusOr<Value> UnaryOperation(bool negate, const Value& operand) {
  if (operand.IsUndefined()) return UndefinedError(operand);
  if (operand.IsIntegral()) {
    if (!negate) return Value::Int(operand.int_value());
    if (operand.int_value() == std::numeric_limits<int64_t>::min()) return Overflow();
    return Value::Int(-operand.int_value());
  }
  if (operand.IsFloat())
    return Value::Float(negate ? -operand.float_value() : operand.float_value());
  return absl::InvalidArgumentError(absl::StrCat("bad operand type for unary ", negate ? "-" : "+",
                                                 ": '", TypeName(operand), "'"));
}

absl::StatusOr<Value> BinaryOperation(Interpreter& interpreter, BinaryOp op, const Value& left,
                                      const Value& right) {
  if (left.IsUndefined()) return UndefinedError(left);
  // str % x formats x without touching it, so Undefined passes.
  if (op == BinaryOp::kMod && left.IsString()) return PercentFormat(interpreter, left, right);
  if (right.IsUndefined()) return UndefinedError(right);
  switch (op) {
    case BinaryOp::kAdd:
      return Add(interpreter, left, right);
    case BinaryOp::kMul:
      if ((left.IsString() || left.IsSequence()) && right.IsIntegral()) {
        return Repeat(interpreter, left, right.int_value());
      }
      if (left.IsIntegral() && (right.IsString() || right.IsSequence())) {
        return Repeat(interpreter, right, left.int_value());
      }
      break;
    case BinaryOp::kMod:
      if (left.IsString()) return PercentFormat(interpreter, left, right);
      break;
    default:
      break;
  }
  if (left.IsNumber() && right.IsNumber()) return Arithmetic(op, left, right);
  if (op == BinaryOp::kMul) {
    auto is_sequence = [](const Value& v) { return v.IsString() || v.IsSequence(); };
    if (is_sequence(left) || is_sequence(right)) {
      const Value& other = is_sequence(left) ? right : left;
      return absl::InvalidArgumentError(
          absl::StrCat("can't multiply sequence by non-int of type '", TypeName(other), "'"));
    }
  }
  return Unsupported(op, left, right);
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.IsString()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      }
      return container.string().find(item.string()) != std::string::npos;
    case Value::Kind::kList:
      JINJA_RETURN_IF_ERROR(container.list().deferred_error);
      for (const Value& element : container.list().items) {
        if (Equals(element, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (!IsHashable(item)) {
        return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(item), "'"));
      }
      return container.dict().Find(item) != nullptr;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

absl::StatusOr<bool> CompareValues(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::kEq:
      return Equals(left, right);
    case CompareOp::kNe:
      return !Equals(left, right);
    case CompareOp::kIn:
      return Contains(right, left);
    case CompareOp::kNotIn: {
      JINJA_ASSIGN_OR_RETURN(bool in, Contains(right, left));
      return !in;
    }
    case CompareOp::kLt: {
      JINJA_ASSIGN_OR_RETURN(int c, Compare(left, right, "<"));
      return c < 0;
    }
    case CompareOp::kLe: {
      JINJA_ASSIGN_OR_RETURN(int c, Compare(left, right, "<="));
      return c <= 0;
    }
    case CompareOp::kGt: {
      JINJA_ASSIGN_OR_RETURN(int c, Compare(left, right, ">"));
      return c > 0;
    }
    case CompareOp::kGe: {
      JINJA_ASSIGN_OR_RETURN(int c, Compare(left, right, ">="));
      return c >= 0;
    }
  }
  return false;
}

absl::StatusOr<Value> SliceValue(Interpreter& interpreter, const Value& object, const Value& start,
                                 const Value& stop, const Value& step) {
  // jinja2 slices with Python's own [] (not its forgiving getitem), so slicing anything but a
  // sequence raises.
  const bool is_string = object.IsString();
  if (!is_string && !object.IsSequence()) {
    if (object.IsUndefined()) return UndefinedError(object);
    if (object.IsDict()) return absl::InvalidArgumentError("unhashable type: 'slice'");
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(object), "' object is not subscriptable"));
  }
  if (is_string) JINJA_RETURN_IF_ERROR(interpreter.Charge(object.weight()));
  int64_t step_value = 1;
  if (!step.IsNone()) {
    JINJA_ASSIGN_OR_RETURN(step_value, SliceIndex(step));
    if (step_value == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  }
  std::u32string code_points;
  const bool ascii = is_string && IsAscii(object.string());
  if (is_string && !ascii) code_points = DecodeAll(object.string());
  const int64_t length =
      static_cast<int64_t>(!is_string ? object.list().items.size()
                                      : (ascii ? object.string().size() : code_points.size()));
  auto adjust = [&](const Value& bound, bool is_start) -> absl::StatusOr<int64_t> {
    if (bound.IsNone()) {
      if (step_value > 0) return is_start ? 0 : length;
      return is_start ? length - 1 : -1;
    }
    JINJA_ASSIGN_OR_RETURN(int64_t index, SliceIndex(bound));
    if (index < 0) {
      index += length;
      if (index < 0) index = step_value < 0 ? -1 : 0;
    } else if (index >= length) {
      index = step_value < 0 ? length - 1 : length;
    }
    return index;
  };
  JINJA_ASSIGN_OR_RETURN(const int64_t begin, adjust(start, true));
  JINJA_ASSIGN_OR_RETURN(const int64_t end, adjust(stop, false));
  std::vector<size_t> picked;
  for (int64_t i = begin; step_value > 0 ? i < end : i > end;) {
    picked.push_back(static_cast<size_t>(i));
    if (__builtin_add_overflow(i, step_value, &i)) break;
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(picked.size())));
  if (!is_string) {
    std::vector<Value> items;
    items.reserve(picked.size());
    for (size_t i : picked) items.push_back(object.list().items[i]);
    return Value::List(std::move(items), object.list().kind);
  }
  std::string out;
  if (ascii) {
    if (step_value == 1)
      return Value::StringLike(object,
                               object.string().substr(static_cast<size_t>(begin), picked.size()));
    for (size_t i : picked) out.push_back(object.string()[i]);
  } else {
    for (size_t i : picked) AppendCodePoint(code_points[i], &out);
  }
  return Value::StringLike(object, std::move(out));
}

std::optional<Value> CharAt(const std::string& text, int64_t index) {
  if (index < 0) index += static_cast<int64_t>(CodePointCount(text));
  if (index < 0) return std::nullopt;
  // Walk to the character without decoding the whole string.
  int64_t seen = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = pos + 1;
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    if (seen == index) return Value::String(text.substr(pos, end - pos));
    ++seen;
    pos = end;
  }
  return std::nullopt;
}

}  // namespace trustformers::tokenizers::jinja
