// The server's side of the installed library: a password hash (argon2 through infer::serve).
#include <string>

#include "infer/auth.h"
#include "infer/server.h"

bool ServePartWorks() {
  auto hash = infer::HashPassword("correct horse battery staple");
  return hash.ok() && hash->rfind("$argon2id$", 0) == 0;
}
