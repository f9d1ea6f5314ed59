#include "libinfer/tokenizer/bpe_tokenizer.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

// Inverse of ByteToUnicode for code points below 324 (all of its values); -1 elsewhere.
std::array<int16_t, 324> MakeUnicodeToByte() {
  std::array<int16_t, 324> t;
  t.fill(-1);
  for (int b = 0; b < 256; ++b) t[ByteToUnicode(static_cast<uint8_t>(b))] = static_cast<int16_t>(b);
  return t;
}

// Decodes a byte-level token text back to the bytes it stands for. Code points outside the
// byte table (not produced by byte-level encoding) are kept as their UTF-8.
std::string ByteLevelDecode(std::string_view text) {
  static const std::array<int16_t, 324> kUnicodeToByte = MakeUnicodeToByte();
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    int len = DecodeUtf8(text.substr(i), &cp);
    if (len == 0) {  // Not UTF-8: keep the byte.
      out.push_back(text[i]);
      ++i;
      continue;
    }
    if (cp < kUnicodeToByte.size() && kUnicodeToByte[cp] >= 0) {
      out.push_back(static_cast<char>(kUnicodeToByte[cp]));
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

uint32_t ByteToUnicode(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the other 68 are moved to U+0100.. in order.
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
  int n = 0;
  for (int c = 0; c < b; ++c) {
    if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) ++n;
  }
  return 256 + n;
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(const TokenizerSpec& spec) {
  INFER_RETURN_IF_ERROR(ValidateTokenizerSpec(spec));
  INFER_ASSIGN_OR_RETURN(const PreTokenizerKind pre, PreTokenizerFromName(spec.pre));
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer(spec, pre));
  tok->merges_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const std::string& m = spec.merges[rank];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= m.size() ||
        m.find(' ', sp + 1) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer spec: merges[", rank, "] = \"", m,
                                                     "\" is not two tokens separated by a space"));
    }
    const std::string left = m.substr(0, sp);
    const std::string right = m.substr(sp + 1);
    TokenId ids[3];
    const std::string parts[3] = {left, right, left + right};
    for (int p = 0; p < 3; ++p) {
      auto it = tok->token_to_id_.find(parts[p]);
      if (it == tok->token_to_id_.end()) {
        return absl::InvalidArgumentError(absl::StrCat("tokenizer spec: merges[", rank, "] = \"", m,
                                                       "\" uses \"", parts[p],
                                                       "\", which is not in the vocabulary"));
      }
      ids[p] = it->second;
    }
    // The first (highest-priority) occurrence of a pair wins.
    tok->merges_.try_emplace(PairKey(ids[0], ids[1]), Merge{static_cast<int32_t>(rank), ids[2]});
  }
  return tok;
}

BpeTokenizer::BpeTokenizer(const TokenizerSpec& spec, PreTokenizerKind pre)
    : VocabTokenizer(spec),
      pre_(pre),
      ignore_merges_(spec.bpe_ignore_merges),
      unk_id_(spec.unk_id) {
  const size_t n = spec.tokens.size();
  token_to_id_.reserve(n);
  token_bytes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<TokenId>(i);
    token_to_id_.try_emplace(spec.tokens[i], id);  // First id wins for duplicates.
    switch (SpecTokenType(spec, id)) {
      case TokenType::kControl:
        break;  // Decodes to nothing.
      case TokenType::kUserDefined:
        token_bytes_[i] = spec.tokens[i];  // Added tokens are stored as plain text.
        break;
      default:
        token_bytes_[i] = ByteLevelDecode(spec.tokens[i]);
    }
  }
  for (int b = 0; b < 256; ++b) {
    std::string s;
    AppendUtf8(ByteToUnicode(static_cast<uint8_t>(b)), &s);
    auto it = token_to_id_.find(s);
    byte_token_[b] = it == token_to_id_.end() ? -1 : it->second;
  }
}

absl::Status BpeTokenizer::EncodeText(std::string_view text, std::vector<TokenId>* ids) const {
  std::vector<std::string_view> words;
  PreTokenize(pre_, text, &words);
  for (const std::string_view word : words) EncodeWord(word, ids);
  return absl::OkStatus();
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<TokenId>* ids) const {
  if (ignore_merges_) {
    // Llama 3 style: a word that is itself a vocabulary entry is taken whole.
    std::string mapped;
    for (const char ch : word) AppendUtf8(ByteToUnicode(static_cast<uint8_t>(ch)), &mapped);
    if (auto it = token_to_id_.find(mapped); it != token_to_id_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  // One symbol per byte, linked into a list; merged symbols absorb their right neighbour.
  struct Symbol {
    TokenId id;
    int prev;
    int next;
  };
  std::vector<Symbol> syms;
  syms.reserve(word.size());
  for (const char ch : word) {
    const TokenId id = byte_token_[static_cast<uint8_t>(ch)];
    if (id < 0) {  // The vocabulary lacks this byte: unknown token, or dropped.
      if (unk_id_ >= 0) syms.push_back({unk_id_, 0, 0});
      continue;
    }
    syms.push_back({id, 0, 0});
  }
  const int n = static_cast<int>(syms.size());
  for (int i = 0; i < n; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < n ? i + 1 : -1;
  }
  // Candidate merges ordered by rank, then leftmost; entries go stale when a neighbour changes
  // and are re-checked when popped.
  struct Candidate {
    int32_t rank;
    int left;
    TokenId left_id;
    TokenId right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int left) {
    if (left < 0) return;
    const int right = syms[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(syms[left].id, syms[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, syms[left].id, syms[right].id});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = syms[c.left];
    if (left.id != c.left_id || left.next < 0) continue;
    Symbol& right = syms[left.next];
    if (right.id != c.right_id) continue;
    left.id = merges_.find(PairKey(c.left_id, c.right_id))->second.result;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    push_pair(left.prev);
    push_pair(c.left);
  }
  for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids->push_back(syms[i].id);
}

}  // namespace infer
