// infer-cli gen-password: makes the password hashes and keys AuthStore reads.
//
//   infer-cli gen-password                      asks twice on the terminal, prints the argon2id
//   hash echo -n pw | infer-cli gen-password --password-stdin infer-cli gen-password --username
//   alice --role admin --alias ALICE [--jwt-key]
//                                               prints a Kubernetes Secret in the seed's layout
//   infer-cli gen-password --legacy-sha256      the seed's <salt>$<sha256 hex> format (old
//   deployments) infer-cli gen-password --jwt-key            prints a random JWT_KEY (no password
//   asked)
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "cli/commands.h"
#include "infer/auth.h"

namespace infer::cli {
namespace {

struct GenPasswordFlags {
  bool password_stdin = false;
  std::string username;
  std::string role = "user";
  std::string alias;
  bool legacy_sha256 = false;
  bool jwt_key = false;
  Argon2Params params;
};

// Overwrites a password before its memory is released.
void Wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

// The terminal's settings while echo is off, restored by the signal handler on Ctrl-C.
struct termios g_saved_termios;

void RestoreTerminalAndDie(int sig) {
  tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);  // async-signal-safe
  signal(sig, SIG_DFL);
  raise(sig);
}

// Reads one line from stdin, at most kMaxPasswordBytes + 1 bytes kept (so "too long" shows).
std::optional<std::string> ReadLine() {
  std::string line;
  char c;
  while (true) {
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line.empty() ? std::nullopt : std::optional<std::string>(line);
    if (c == '\n') break;
    if (line.size() <= kMaxPasswordBytes) line.push_back(c);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Prompts on stderr and reads a line from the terminal with echo off.
std::optional<std::string> ReadHidden(const char* prompt) {
  if (tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return std::nullopt;
  struct termios quiet = g_saved_termios;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  struct sigaction restore {};
  restore.sa_handler = RestoreTerminalAndDie;
  struct sigaction old_int {
  }, old_term{}, old_hup{};
  sigaction(SIGINT, &restore, &old_int);
  sigaction(SIGTERM, &restore, &old_term);
  sigaction(SIGHUP, &restore, &old_hup);
  // Echo goes off before the prompt shows, so nothing typed after the prompt can be echoed.
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  std::optional<std::string> line = ReadLine();
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  return line;
}

// The whole of stdin minus one trailing newline (what `echo pw |` adds).
std::optional<std::string> ReadAllStdin() {
  std::string all;
  char buf[4096];
  while (true) {
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    if (all.size() <= kMaxPasswordBytes + 2) all.append(buf, static_cast<size_t>(n));
  }
  explicit_bzero(buf, sizeof(buf));
  if (!all.empty() && all.back() == '\n') all.pop_back();
  if (!all.empty() && all.back() == '\r') all.pop_back();
  return all;
}

std::optional<std::string> ReadPassword(bool from_stdin, std::string* error) {
  if (from_stdin) {
    auto pw = ReadAllStdin();
    if (!pw) *error = "cannot read the password from stdin";
    return pw;
  }
  if (!isatty(STDIN_FILENO)) {
    *error = "stdin is not a terminal; pass --password-stdin to read the password from it";
    return std::nullopt;
  }
  auto first = ReadHidden("Password: ");
  if (!first) {
    *error = "no password entered";
    return std::nullopt;
  }
  auto second = ReadHidden("Repeat password: ");
  const bool same = second && *second == *first;
  if (second) Wipe(*second);
  if (!same) {
    Wipe(*first);
    *error = "the passwords do not match";
    return std::nullopt;
  }
  return first;
}

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

int RunGenPassword(GenPasswordFlags& f) {
  std::optional<std::string> jwt_key;
  if (f.jwt_key) {
    auto key = GenerateJwtKey();
    if (!key.ok()) return Fail(std::string(key.status().message()));
    jwt_key = *key;
    if (f.username.empty()) {
      std::printf("%s\n", jwt_key->c_str());
      return 0;
    }
  }
  std::optional<Role> role;
  if (!f.username.empty()) {
    role = ParseRole(f.role);
    if (!role) return Fail("--role must be admin, user or guest, not '" + f.role + "'");
    if (f.alias.empty()) {
      for (char c : f.username) {
        f.alias.push_back(std::isalnum(static_cast<unsigned char>(c))
                              ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                              : '_');
      }
    }
    for (char c : f.alias) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
        return Fail("--alias must be letters, digits and '_' (it names environment variables)");
      }
    }
  } else if (!f.alias.empty()) {
    return Fail("--alias needs --username");
  }

  std::string error;
  std::optional<std::string> password = ReadPassword(f.password_stdin, &error);
  if (!password) return Fail(error);
  absl::StatusOr<std::string> hash =
      f.legacy_sha256 ? HashPasswordLegacySha256(*password) : HashPassword(*password, f.params);
  Wipe(*password);
  if (!hash.ok()) return Fail(std::string(hash.status().message()));
  if (f.legacy_sha256) {
    std::fprintf(stderr,
                 "infer-cli: warning: the legacy format is one salted SHA-256, fast to brute "
                 "force; use it only for deployments that cannot read argon2id yet\n");
  }
  if (f.username.empty()) {
    std::printf("%s\n", hash->c_str());
    return 0;
  }
  const std::string& a = f.alias;
  const std::string role_name(RoleName(*role));
  std::printf(
      "# A Kubernetes Secret in the layout libinfer's AuthStore reads. To add this user to an\n"
      "# existing Secret, copy the %s_* entries and add %s to its USER_LIST.\n"
      "apiVersion: v1\n"
      "kind: Secret\n"
      "metadata:\n"
      "  name: auth-config\n"
      "type: Opaque\n"
      "data:\n",
      a.c_str(), a.c_str());
  if (jwt_key) std::printf("  JWT_KEY: %s\n", B64(*jwt_key).c_str());
  std::printf("  USER_LIST: %s  # \"%s\"\n", B64(a).c_str(), a.c_str());
  std::printf("  %s_USERNAME: %s\n", a.c_str(), B64(f.username).c_str());
  std::printf("  %s_HASHED_PASSWORD: %s\n", a.c_str(), B64(*hash).c_str());
  std::printf("  %s_ROLE: %s  # \"%s\"\n", a.c_str(), B64(role_name).c_str(), role_name.c_str());
  return 0;
}

}  // namespace

Action RegisterGenPassword(CLI::App& app) {
  auto f = std::make_shared<GenPasswordFlags>();
  app.add_flag("--password-stdin", f->password_stdin,
               "Read the password from stdin (one trailing newline is dropped) instead of asking "
               "on the terminal");
  app.add_option("--username", f->username,
                 "Print a Kubernetes Secret for this user instead of the bare hash");
  app.add_option("--role", f->role, "Role in the Secret: admin, user or guest (default user)");
  app.add_option("--alias", f->alias,
                 "Alias in USER_LIST, prefix of the variables (default: the username in capitals)");
  app.add_flag("--legacy-sha256", f->legacy_sha256,
               "Print the seed deployment's <salt>$<sha256(salt + password)> format instead");
  app.add_flag("--jwt-key", f->jwt_key,
               "Print a random JWT_KEY (48 random bytes, base64url); with --username, add it to "
               "the Secret");
  app.add_option("--memory-kib", f->params.memory_kib, "argon2id memory in KiB (min 19456)");
  app.add_option("--iterations", f->params.iterations, "argon2id passes (min 2)");
  app.add_option("--parallelism", f->params.parallelism, "argon2id lanes (min 1)");
  app.footer(
      "The password is read without echo from the terminal (asked twice), or from stdin with "
      "--password-stdin. Errors go to stderr with exit status 1.");
  return [f] { return RunGenPassword(*f); };
}

}  // namespace infer::cli
