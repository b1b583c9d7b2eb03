// Line-by-line port of Lucene 9's PorterStemmer.java (same method names and comments'
// intent). Offsets are int as in Java; k0 is always 0 here.
#include "text/porter_stemmer.hpp"

namespace winnow::text {
namespace {

template <class Ch>
class PorterStemmer {
 public:
  PorterStemmer(Ch* b, int len) : b_(b), k_(len - 1) {}

  /// Returns the new length.
  int stem() {
    if (k_ > k0_ + 1) {
      step1();
      step2();
      step3();
      step4();
      step5();
      step6();
    }
    return k_ + 1;
  }

 private:
  Ch* b_;
  int j_ = 0;
  int k_;
  static constexpr int k0_ = 0;

  // cons(i) is true <=> b[i] is a consonant.
  bool cons(int i) const {
    switch (b_[i]) {
      case 'a':
      case 'e':
      case 'i':
      case 'o':
      case 'u':
        return false;
      case 'y':
        return (i == k0_) ? true : !cons(i - 1);
      default:
        return true;
    }
  }

  // m() measures the number of consonant sequences between k0 and j.
  int m() const {
    int n = 0;
    int i = k0_;
    while (true) {
      if (i > j_) return n;
      if (!cons(i)) break;
      i++;
    }
    i++;
    while (true) {
      while (true) {
        if (i > j_) return n;
        if (cons(i)) break;
        i++;
      }
      i++;
      n++;
      while (true) {
        if (i > j_) return n;
        if (!cons(i)) break;
        i++;
      }
      i++;
    }
  }

  // vowelinstem() is true <=> k0,...j contains a vowel
  bool vowelinstem() const {
    for (int i = k0_; i <= j_; i++) {
      if (!cons(i)) return true;
    }
    return false;
  }

  // doublec(j) is true <=> j,(j-1) contain a double consonant.
  bool doublec(int j) const {
    if (j < k0_ + 1) return false;
    if (b_[j] != b_[j - 1]) return false;
    return cons(j);
  }

  // cvc(i) is true <=> i-2,i-1,i has the form consonant - vowel - consonant and also if the
  // second c is not w,x or y.
  bool cvc(int i) const {
    if (i < k0_ + 2 || !cons(i) || cons(i - 1) || !cons(i - 2)) return false;
    const Ch ch = b_[i];
    if (ch == 'w' || ch == 'x' || ch == 'y') return false;
    return true;
  }

  template <size_t N>
  bool ends(const char (&s)[N]) {
    constexpr int l = static_cast<int>(N - 1);
    const int o = k_ - l + 1;
    if (o < k0_) return false;
    for (int i = 0; i < l; i++) {
      if (b_[o + i] != static_cast<Ch>(s[i])) return false;
    }
    j_ = k_ - l;
    return true;
  }

  // setto(s) sets (j+1),...k to the characters in the string s, readjusting k.
  template <size_t N>
  void setto(const char (&s)[N]) {
    constexpr int l = static_cast<int>(N - 1);
    const int o = j_ + 1;
    for (int i = 0; i < l; i++) b_[o + i] = static_cast<Ch>(s[i]);
    k_ = j_ + l;
  }

  template <size_t N>
  void r(const char (&s)[N]) {
    if (m() > 0) setto(s);
  }

  // step1() gets rid of plurals and -ed or -ing.
  void step1() {
    if (b_[k_] == 's') {
      if (ends("sses")) {
        k_ -= 2;
      } else if (ends("ies")) {
        setto("i");
      } else if (b_[k_ - 1] != 's') {
        k_--;
      }
    }
    if (ends("eed")) {
      if (m() > 0) k_--;
    } else if ((ends("ed") || ends("ing")) && vowelinstem()) {
      k_ = j_;
      if (ends("at")) {
        setto("ate");
      } else if (ends("bl")) {
        setto("ble");
      } else if (ends("iz")) {
        setto("ize");
      } else if (doublec(k_)) {
        const Ch ch = b_[k_--];
        if (ch == 'l' || ch == 's' || ch == 'z') k_++;
      } else if (m() == 1 && cvc(k_)) {
        setto("e");
      }
    }
  }

  // step2() turns terminal y to i when there is another vowel in the stem.
  void step2() {
    if (ends("y") && vowelinstem()) b_[k_] = static_cast<Ch>('i');
  }

  // step3() maps double suffices to single ones.
  void step3() {
    if (k_ == k0_) return;  // For Bug 1
    switch (b_[k_ - 1]) {
      case 'a':
        if (ends("ational")) { r("ate"); break; }
        if (ends("tional")) { r("tion"); break; }
        break;
      case 'c':
        if (ends("enci")) { r("ence"); break; }
        if (ends("anci")) { r("ance"); break; }
        break;
      case 'e':
        if (ends("izer")) { r("ize"); break; }
        break;
      case 'l':
        if (ends("bli")) { r("ble"); break; }
        if (ends("alli")) { r("al"); break; }
        if (ends("entli")) { r("ent"); break; }
        if (ends("eli")) { r("e"); break; }
        if (ends("ousli")) { r("ous"); break; }
        break;
      case 'o':
        if (ends("ization")) { r("ize"); break; }
        if (ends("ation")) { r("ate"); break; }
        if (ends("ator")) { r("ate"); break; }
        break;
      case 's':
        if (ends("alism")) { r("al"); break; }
        if (ends("iveness")) { r("ive"); break; }
        if (ends("fulness")) { r("ful"); break; }
        if (ends("ousness")) { r("ous"); break; }
        break;
      case 't':
        if (ends("aliti")) { r("al"); break; }
        if (ends("iviti")) { r("ive"); break; }
        if (ends("biliti")) { r("ble"); break; }
        break;
      case 'g':
        if (ends("logi")) { r("log"); break; }
        break;
      default:
        break;
    }
  }

  // step4() deals with -ic-, -full, -ness etc.
  void step4() {
    switch (b_[k_]) {
      case 'e':
        if (ends("icate")) { r("ic"); break; }
        if (ends("ative")) { r(""); break; }
        if (ends("alize")) { r("al"); break; }
        break;
      case 'i':
        if (ends("iciti")) { r("ic"); break; }
        break;
      case 'l':
        if (ends("ical")) { r("ic"); break; }
        if (ends("ful")) { r(""); break; }
        break;
      case 's':
        if (ends("ness")) { r(""); break; }
        break;
      default:
        break;
    }
  }

  // step5() takes off -ant, -ence etc., in context <c>vcvc<v>.
  void step5() {
    if (k_ == k0_) return;  // for Bug 1
    switch (b_[k_ - 1]) {
      case 'a':
        if (ends("al")) break;
        return;
      case 'c':
        if (ends("ance")) break;
        if (ends("ence")) break;
        return;
      case 'e':
        if (ends("er")) break;
        return;
      case 'i':
        if (ends("ic")) break;
        return;
      case 'l':
        if (ends("able")) break;
        if (ends("ible")) break;
        return;
      case 'n':
        if (ends("ant")) break;
        if (ends("ement")) break;
        if (ends("ment")) break;
        // element etc. not stripped before the m
        if (ends("ent")) break;
        return;
      case 'o':
        if (ends("ion") && j_ >= 0 && (b_[j_] == 's' || b_[j_] == 't')) break;
        // j >= 0 fixes Bug 2
        if (ends("ou")) break;
        return;
        // takes care of -ous
      case 's':
        if (ends("ism")) break;
        return;
      case 't':
        if (ends("ate")) break;
        if (ends("iti")) break;
        return;
      case 'u':
        if (ends("ous")) break;
        return;
      case 'v':
        if (ends("ive")) break;
        return;
      case 'z':
        if (ends("ize")) break;
        return;
      default:
        return;
    }
    if (m() > 1) k_ = j_;
  }

  // step6() removes a final -e if m() > 1.
  void step6() {
    j_ = k_;
    if (b_[k_] == 'e') {
      const int a = m();
      if (a > 1 || (a == 1 && !cvc(k_ - 1))) k_--;
    }
    if (b_[k_] == 'l' && doublec(k_) && m() > 1) k_--;
  }
};

}  // namespace

size_t porter_stem(char* word, size_t len) {
  return static_cast<size_t>(PorterStemmer<char>(word, static_cast<int>(len)).stem());
}

size_t porter_stem(char16_t* word, size_t len) {
  return static_cast<size_t>(PorterStemmer<char16_t>(word, static_cast<int>(len)).stem());
}

}  // namespace winnow::text
