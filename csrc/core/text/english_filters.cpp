#include "text/english_filters.hpp"

namespace winnow::text {

bool is_english_stop_word(std::string_view t) {
  // Switch on length and first letter, then compare: no hashing, no allocation.
  switch (t.size()) {
    case 1:
      return t[0] == 'a';
    case 2:
      switch (t[0]) {
        case 'a': return t == "an" || t == "are" || t == "as" || t == "at";
        case 'b': return t == "be" || t == "by";
        case 'i': return t == "if" || t == "in" || t == "is" || t == "it";
        case 'n': return t == "no";
        case 'o': return t == "of" || t == "on" || t == "or";
        case 't': return t == "to";
        default: return false;
      }
    case 3:
      switch (t[0]) {
        case 'a': return t == "and" || t == "are";
        case 'b': return t == "but";
        case 'f': return t == "for";
        case 'n': return t == "not";
        case 't': return t == "the";
        case 'w': return t == "was";
        default: return false;
      }
    case 4:
      switch (t[0]) {
        case 'i': return t == "into";
        case 's': return t == "such";
        case 't': return t == "that" || t == "then" || t == "they" || t == "this";
        case 'w': return t == "will" || t == "with";
        default: return false;
      }
    case 5:
      return t == "their" || t == "there" || t == "these";
    default:
      return false;
  }
}

}  // namespace winnow::text
