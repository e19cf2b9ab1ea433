// CLIP BPE tokenizer (see tokenizer.hpp for what is exact and what is approximated).
#include <difss/sd/tokenizer.hpp>

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace difss::sd {
namespace {

// ---- UTF-8 --------------------------------------------------------------------------------

// Decodes one code point at s[pos]; invalid or truncated sequences decode as one byte with
// code point -1 (classified as "other", copied through unchanged).
int32_t decode_utf8(const std::string& s, size_t pos, size_t& len) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(pos);
  len = 1;
  if (c < 0x80) return c;
  int n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || pos + size_t(n) > s.size()) return -1;
  int32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (int i = 1; i < n; ++i) {
    unsigned char cc = b(pos + size_t(i));
    if ((cc >> 6) != 0x2) return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms and surrogates are invalid.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return -1;
  len = size_t(n);
  return cp;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// ---- Unicode classes (\p{L}, \p{N}, \s of the `regex` module) -----------------------------

struct Range {
  int32_t lo, hi;
};

bool in_ranges(int32_t cp, const Range* r, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (cp >= r[i].lo && cp <= r[i].hi) return true;
  return false;
}

// \p{White_Space}
bool is_space(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// \p{N}: decimal digits, letter-like numbers, other numbers of the common blocks.
bool is_number(int32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  static const Range r[] = {
      {0x00B2, 0x00B3}, {0x00B9, 0x00B9}, {0x00BC, 0x00BE}, {0x0660, 0x0669}, {0x06F0, 0x06F9},
      {0x07C0, 0x07C9}, {0x0966, 0x096F}, {0x09E6, 0x09EF}, {0x0A66, 0x0A6F}, {0x0AE6, 0x0AEF},
      {0x0B66, 0x0B6F}, {0x0BE6, 0x0BF2}, {0x0C66, 0x0C6F}, {0x0CE6, 0x0CEF}, {0x0D66, 0x0D6F},
      {0x0E50, 0x0E59}, {0x0ED0, 0x0ED9}, {0x0F20, 0x0F33}, {0x1040, 0x1049}, {0x1369, 0x137C},
      {0x16EE, 0x16F0}, {0x17E0, 0x17E9}, {0x1810, 0x1819}, {0x2070, 0x2070}, {0x2074, 0x2079},
      {0x2080, 0x2089}, {0x2150, 0x2182}, {0x2185, 0x2189}, {0x2460, 0x249B}, {0x24EA, 0x24FF},
      {0x2776, 0x2793}, {0x2CFD, 0x2CFD}, {0x3007, 0x3007}, {0x3021, 0x3029}, {0x3038, 0x303A},
      {0x3192, 0x3195}, {0x3220, 0x3229}, {0x3248, 0x324F}, {0x3251, 0x325F}, {0x3280, 0x3289},
      {0x32B1, 0x32BF}, {0xFF10, 0xFF19}, {0x1D7CE, 0x1D7FF}, {0x1F100, 0x1F10C}};
  return in_ranges(cp, r, sizeof(r) / sizeof(r[0]));
}

// \p{L}: letters of the main scripts (modifier letters included, combining marks excluded).
bool is_letter(int32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  static const Range r[] = {
      {0x00AA, 0x00AA}, {0x00B5, 0x00B5}, {0x00BA, 0x00BA}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
      {0x00F8, 0x02C1}, {0x02C6, 0x02D1}, {0x02E0, 0x02E4}, {0x02EC, 0x02EC}, {0x02EE, 0x02EE},
      {0x0370, 0x0374}, {0x0376, 0x0377}, {0x037A, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386},
      {0x0388, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x0559, 0x0559},
      {0x0560, 0x0588}, {0x05D0, 0x05EA}, {0x05EF, 0x05F2}, {0x0620, 0x064A}, {0x066E, 0x066F},
      {0x0671, 0x06D3}, {0x06D5, 0x06D5}, {0x06FA, 0x06FC}, {0x0904, 0x0939}, {0x093D, 0x093D},
      {0x0950, 0x0950}, {0x0958, 0x0961}, {0x0985, 0x09B9}, {0x0A05, 0x0A39}, {0x0A85, 0x0AB9},
      {0x0B05, 0x0B39}, {0x0B85, 0x0BB9}, {0x0C05, 0x0C39}, {0x0C85, 0x0CB9}, {0x0D05, 0x0D3A},
      {0x0E01, 0x0E30}, {0x0E32, 0x0E33}, {0x0E40, 0x0E46}, {0x0E81, 0x0EB0}, {0x0F40, 0x0F6C},
      {0x1000, 0x102A}, {0x10A0, 0x10FF}, {0x1100, 0x1248}, {0x1250, 0x135A}, {0x13A0, 0x13F5},
      {0x1401, 0x166C}, {0x1780, 0x17B3}, {0x1820, 0x1878}, {0x1D00, 0x1DBF}, {0x1E00, 0x1F15},
      {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F7D},
      {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
      {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
      {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2102, 0x2102}, {0x2107, 0x2107},
      {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
      {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
      {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2CE4}, {0x2D00, 0x2D25}, {0x3005, 0x3006},
      {0x3031, 0x3035}, {0x303B, 0x303C}, {0x3041, 0x3096}, {0x309D, 0x309F}, {0x30A1, 0x30FA},
      {0x30FC, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E}, {0x31A0, 0x31BF}, {0x31F0, 0x31FF},
      {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xA000, 0xA48C}, {0xA4D0, 0xA4FD}, {0xA500, 0xA60C},
      {0xA640, 0xA66E}, {0xA680, 0xA69D}, {0xA722, 0xA788}, {0xA78B, 0xA7CA}, {0xAC00, 0xD7A3},
      {0xF900, 0xFA6D}, {0xFA70, 0xFAD9}, {0xFB00, 0xFB06}, {0xFB1D, 0xFB1D}, {0xFB1F, 0xFB28},
      {0xFB2A, 0xFBB1}, {0xFE70, 0xFEFC}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE},
      {0x10400, 0x1044F}, {0x1D400, 0x1D7CB}, {0x20000, 0x2FA1D}, {0x30000, 0x3134A}};
  return in_ranges(cp, r, sizeof(r) / sizeof(r[0]));
}

// str.lower() for ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, Armenian and fullwidth
// Latin; other code points are returned unchanged.
int32_t to_lower(int32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if ((cp >= 0xC0 && cp <= 0xDE) && cp != 0xD7) return cp + 32;
  if (cp >= 0x100 && cp <= 0x137 && cp != 0x130) return cp | 1;
  if (cp == 0x130) return 'i';  // Python gives "i\u0307"; plain i is the useful approximation
  if (cp >= 0x139 && cp <= 0x148) return (cp % 2 == 1) ? cp + 1 : cp;
  if (cp >= 0x14A && cp <= 0x177) return cp | 1;
  if (cp == 0x178) return 0xFF;
  if (cp >= 0x179 && cp <= 0x17E) return (cp % 2 == 1) ? cp + 1 : cp;
  if (cp == 0x386) return 0x3AC;
  if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
  if (cp == 0x38C) return 0x3CC;
  if (cp == 0x38E || cp == 0x38F) return cp + 63;
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x460 && cp <= 0x481) return cp | 1;
  if (cp >= 0x48A && cp <= 0x4BF) return cp | 1;
  if (cp >= 0x4D0 && cp <= 0x52F) return cp | 1;
  if (cp >= 0x531 && cp <= 0x556) return cp + 48;
  if (cp >= 0x1E00 && cp <= 0x1E95) return cp | 1;
  if (cp >= 0x1EA0 && cp <= 0x1EFF) return cp | 1;
  if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 32;
  return cp;
}

// ---- html.unescape --------------------------------------------------------------------------

struct Entity {
  const char* name;
  int32_t cp;
};
// A common subset of the HTML5 named character references.
const Entity kEntities[] = {
    {"amp", '&'},       {"lt", '<'},         {"gt", '>'},         {"quot", '"'},
    {"apos", '\''},     {"nbsp", 0xA0},      {"copy", 0xA9},      {"reg", 0xAE},
    {"trade", 0x2122},  {"hellip", 0x2026},  {"mdash", 0x2014},   {"ndash", 0x2013},
    {"lsquo", 0x2018},  {"rsquo", 0x2019},   {"ldquo", 0x201C},   {"rdquo", 0x201D},
    {"laquo", 0xAB},    {"raquo", 0xBB},     {"times", 0xD7},     {"divide", 0xF7},
    {"deg", 0xB0},      {"plusmn", 0xB1},    {"middot", 0xB7},    {"bull", 0x2022},
    {"euro", 0x20AC},   {"pound", 0xA3},     {"yen", 0xA5},       {"cent", 0xA2},
    {"sect", 0xA7},     {"para", 0xB6},      {"iexcl", 0xA1},     {"iquest", 0xBF},
    {"shy", 0xAD},      {"eacute", 0xE9},    {"egrave", 0xE8},    {"ecirc", 0xEA},
    {"agrave", 0xE0},   {"aacute", 0xE1},    {"acirc", 0xE2},     {"ccedil", 0xE7},
    {"uuml", 0xFC},     {"ouml", 0xF6},      {"auml", 0xE4},      {"szlig", 0xDF},
    {"ntilde", 0xF1},   {"oacute", 0xF3},    {"iacute", 0xED},    {"uacute", 0xFA},
    {"Eacute", 0xC9},   {"Uuml", 0xDC},      {"Ouml", 0xD6},      {"Auml", 0xC4},
    {"AMP", '&'},       {"LT", '<'},         {"GT", '>'},         {"QUOT", '"'},
    {"frac12", 0xBD},   {"frac14", 0xBC},    {"frac34", 0xBE},    {"sup2", 0xB2},
    {"sup3", 0xB3},     {"micro", 0xB5},     {"larr", 0x2190},    {"rarr", 0x2192},
    {"hearts", 0x2665}, {"star", 0x2606},    {"ensp", 0x2002},    {"emsp", 0x2003},
    {"thinsp", 0x2009}, {"zwnj", 0x200C},    {"zwj", 0x200D},     {"prime", 0x2032}};
// Legacy entities that html.unescape also accepts without the trailing ';'.
const char* const kNoSemicolon[] = {"amp", "lt", "gt", "quot", "nbsp", "copy", "reg",
                                    "AMP", "LT", "GT", "QUOT"};

// Windows-1252 meanings of &#128;..&#159; (html.unescape's _invalid_charrefs).
int32_t fix_charref(int64_t v) {
  static const int32_t cp1252[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  if (v >= 0x80 && v <= 0x9F) return cp1252[v - 0x80];
  if (v == 0x0D) return 0x0D;
  if (v == 0 || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0xFFFD;
  return int32_t(v);
}

std::string html_unescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {  // numeric reference
      ++j;
      bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      size_t start = j;
      int64_t v = 0;
      while (j < s.size() && (hex ? std::isxdigit(static_cast<unsigned char>(s[j]))
                                  : std::isdigit(static_cast<unsigned char>(s[j])))) {
        if (v < 0x7FFFFFFF) {
          char c = char(std::tolower(static_cast<unsigned char>(s[j])));
          v = v * (hex ? 16 : 10) + (c >= 'a' ? c - 'a' + 10 : c - '0');
        }
        ++j;
      }
      if (j == start) {
        out += s[i++];
        continue;
      }
      if (j < s.size() && s[j] == ';') ++j;
      append_utf8(out, fix_charref(v));
      i = j;
      continue;
    }
    // named reference: up to 32 characters of [^\t\n\f <&#;], optionally followed by ';'
    size_t k = j;
    while (k < s.size() && k - j < 32 && std::strchr("\t\n\f <&#;", s[k]) == nullptr) ++k;
    std::string name = s.substr(j, k - j);
    bool semi = k < s.size() && s[k] == ';';
    bool done = false;
    if (semi) {
      for (const auto& e : kEntities)
        if (name == e.name) {
          append_utf8(out, e.cp);
          i = k + 1;
          done = true;
          break;
        }
    }
    if (!done) {  // longest legacy entity that prefixes the name
      size_t best = 0;
      int32_t best_cp = 0;
      for (const char* e : kNoSemicolon) {
        size_t n = std::strlen(e);
        if (n > best && name.compare(0, n, e) == 0) {
          for (const auto& en : kEntities)
            if (std::strcmp(en.name, e) == 0) best_cp = en.cp;
          best = n;
        }
      }
      if (best > 0) {
        append_utf8(out, best_cp);
        i = j + best;
        done = true;
      }
    }
    if (!done) out += s[i++];
  }
  return out;
}

// Python str.strip() whitespace (White_Space plus the ASCII separators \x1c-\x1f).
bool is_strip_space(int32_t cp) { return is_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    size_t len;
    int32_t cp = decode_utf8(s, b, len);
    if (!is_strip_space(cp)) break;
    b += len;
  }
  while (e > b) {  // walk back to the start of the last code point
    size_t p = e - 1;
    while (p > b && (static_cast<unsigned char>(s[p]) >> 6) == 0x2) --p;
    size_t len;
    int32_t cp = decode_utf8(s, p, len);
    if (p + len != e || !is_strip_space(cp)) break;
    e = p;
  }
  return s.substr(b, e - b);
}

bool starts_with_ci(const std::string& s, size_t pos, const char* lit) {
  size_t n = std::strlen(lit);
  if (pos + n > s.size()) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(s[pos + i])) != lit[i]) return false;
  return true;
}

std::string read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open the CLIP BPE merges file");
  std::string out;
  std::array<char, 1 << 16> buf{};
  constexpr size_t kMax = size_t(64) << 20;  // the real file inflates to ~1.4 MB
  for (;;) {
    int n = gzread(f, buf.data(), unsigned(buf.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw std::runtime_error(path + ": not a readable gzip file (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf.data(), size_t(n));
    if (out.size() > kMax) {
      gzclose(f);
      throw std::runtime_error(path + ": inflates to more than 64 MB; not a CLIP merges file");
    }
  }
  gzclose(f);
  return out;
}

}  // namespace

ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::from_file(const std::string& path) {
  const std::string text = read_gzip(path);
  // merges = lines[1 : 49152 - 256 - 2 + 1] (simple_tokenizer.py): 48,894 merges.
  constexpr size_t kMerges = 49152 - 256 - 2;
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kMerges);
  size_t pos = text.find('\n');
  if (pos == std::string::npos) throw std::runtime_error(path + ": no merges after the header line");
  ++pos;
  while (merges.size() < kMerges && pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::istringstream line(text.substr(pos, end - pos));
    std::string a, b, extra;
    if (!(line >> a >> b) || (line >> extra))
      throw std::runtime_error(path + ": merge " + std::to_string(merges.size() + 1) +
                               " is not two symbols separated by a space");
    merges.emplace_back(std::move(a), std::move(b));
    pos = end + 1;
  }
  if (merges.size() != kMerges)
    throw std::runtime_error(path + ": expected " + std::to_string(kMerges) + " merges, found " +
                             std::to_string(merges.size()));

  ClipTokenizer t;
  t.cache_mutex_ = std::make_unique<std::mutex>();
  // bytes_to_unicode(): printable bytes map to themselves, the others to 256 + n.
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int32_t> cs(bs.begin(), bs.end());
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  t.byte_encoder_.assign(256, "");
  for (size_t i = 0; i < bs.size(); ++i) {
    std::string u;
    append_utf8(u, cs[i]);
    t.byte_encoder_[size_t(bs[i])] = u;
    t.vocab_.push_back(u);
  }
  for (size_t i = 0; i < 256; ++i) t.vocab_.push_back(t.vocab_[i] + "</w>");
  for (size_t r = 0; r < merges.size(); ++r) {
    t.vocab_.push_back(merges[r].first + merges[r].second);
    t.ranks_.emplace(merges[r].first + " " + merges[r].second, int32_t(r));
  }
  t.vocab_.push_back("<|startoftext|>");
  t.vocab_.push_back("<|endoftext|>");
  for (size_t i = 0; i < t.vocab_.size(); ++i) t.encoder_.emplace(t.vocab_[i], int32_t(i));
  if (t.vocab_.size() != 49408 || t.encoder_.size() != t.vocab_.size())
    throw std::runtime_error(path + ": merges do not build the 49,408-token CLIP vocabulary");
  return t;
}

std::string ClipTokenizer::clean_text(const std::string& text) {
  // basic_clean: (ftfy.fix_text skipped) html.unescape twice, strip.
  std::string s = strip(html_unescape(html_unescape(text)));
  // whitespace_clean: \s+ -> ' ', strip; then lower().
  std::string out;
  out.reserve(s.size());
  bool in_space = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    int32_t cp = decode_utf8(s, i, len);
    if (cp >= 0 && is_space(cp)) {
      in_space = true;
    } else {
      if (in_space && !out.empty()) out += ' ';
      in_space = false;
      if (cp < 0)
        out.append(s, i, len);
      else
        append_utf8(out, to_lower(cp));
    }
    i += len;
  }
  return out;
}

std::vector<std::string> ClipTokenizer::pre_tokenize(const std::string& s) {
  static const char* const kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  enum Cls { kLetter, kNumber, kSpace, kOther };
  auto cls_at = [&](size_t p, size_t& len) {
    int32_t cp = decode_utf8(s, p, len);
    if (cp < 0) return kOther;
    if (is_letter(cp)) return kLetter;
    if (is_number(cp)) return kNumber;
    if (is_space(cp)) return kSpace;
    return kOther;
  };
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    bool matched = false;
    for (const char* special : {"<|startoftext|>", "<|endoftext|>"})
      if (!matched && starts_with_ci(s, i, special)) {
        out.push_back(s.substr(i, std::strlen(special)));
        i += std::strlen(special);
        matched = true;
      }
    if (matched) continue;
    if (s[i] == '\'') {
      for (const char* c : kContractions)
        if (starts_with_ci(s, i, c)) {
          out.push_back(s.substr(i, std::strlen(c)));
          i += std::strlen(c);
          matched = true;
          break;
        }
      if (matched) continue;
    }
    size_t len;
    Cls c = cls_at(i, len);
    if (c == kSpace) {
      i += len;
      continue;
    }
    if (c == kNumber) {  // [\p{N}]: one code point per token
      out.push_back(s.substr(i, len));
      i += len;
      continue;
    }
    size_t j = i + len;
    while (j < s.size()) {  // [\p{L}]+ or [^\s\p{L}\p{N}]+
      size_t l2;
      Cls c2 = cls_at(j, l2);
      if (c2 != c) break;
      j += l2;
    }
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& token) const {
  if (token == "<|startoftext|>" || token == "<|endoftext|>") return {token};
  {
    std::lock_guard<std::mutex> lock(*cache_mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end()) return it->second;
  }
  std::vector<std::string> word;  // one symbol per code point, "</w>" on the last
  for (size_t i = 0; i < token.size();) {
    size_t len;
    decode_utf8(token, i, len);
    word.push_back(token.substr(i, len));
    i += len;
  }
  if (word.empty()) return {};
  word.back() += "</w>";
  while (word.size() > 1) {
    int32_t best = std::numeric_limits<int32_t>::max();
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == std::numeric_limits<int32_t>::max()) break;
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word = std::move(merged);
  }
  std::lock_guard<std::mutex> lock(*cache_mutex_);
  if (cache_.size() > 100000) cache_.clear();  // bounded: prompts are few but hosts run long
  cache_.emplace(token, word);
  return word;
}

std::vector<int32_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  for (const std::string& piece : pre_tokenize(clean_text(text))) {
    std::string mapped;
    if (piece == "<|startoftext|>" || piece == "<|endoftext|>") {
      mapped = piece;
    } else {
      for (unsigned char b : piece) mapped += byte_encoder_[b];
    }
    for (const std::string& sym : bpe(mapped)) {
      auto it = encoder_.find(sym);
      if (it == encoder_.end())  // cannot happen: every byte symbol is in the vocabulary
        throw std::runtime_error("CLIP tokenizer: symbol '" + sym + "' not in the vocabulary");
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::vector<int32_t> ClipTokenizer::encode_padded(const std::string& text, int context) const {
  if (context < 2) throw std::invalid_argument("CLIP tokenizer: context length must be >= 2");
  std::vector<int32_t> ids = encode(text);
  if (ids.size() > size_t(context - 2)) ids.resize(size_t(context - 2));
  std::vector<int32_t> out;
  out.reserve(size_t(context));
  out.push_back(kStartOfText);
  out.insert(out.end(), ids.begin(), ids.end());
  out.push_back(kEndOfText);
  out.resize(size_t(context), kEndOfText);
  return out;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string joined;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= vocab_.size())
      throw std::out_of_range("CLIP tokenizer: id " + std::to_string(id) + " out of range");
    joined += vocab_[size_t(id)];
  }
  // Map the printable code points back to bytes; "</w>" marks the end of a word.
  std::unordered_map<std::string, unsigned char> byte_decoder;
  for (size_t b = 0; b < 256; ++b) byte_decoder.emplace(byte_encoder_[b], static_cast<unsigned char>(b));
  std::string out;
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 4, "</w>") == 0) {
      out += ' ';
      i += 4;
      continue;
    }
    if (joined.compare(i, 15, "<|startoftext|>") == 0 || joined.compare(i, 13, "<|endoftext|>") == 0) {
      size_t n = joined.compare(i, 15, "<|startoftext|>") == 0 ? 15 : 13;
      out += joined.substr(i, n);
      i += n;
      continue;
    }
    size_t len;
    decode_utf8(joined, i, len);
    auto it = byte_decoder.find(joined.substr(i, len));
    if (it != byte_decoder.end()) out += char(it->second);
    i += len;
  }
  return out;
}

}  // namespace difss::sd
