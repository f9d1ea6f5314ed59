"""llama.cpp (through llama-cpp-python) as an independent reference, run by the interpreter of
scripts/llama_cpp_venv.sh, never imported by the tests themselves:

  llama_cpp_ref.py quantize SRC DST FTYPE   llama_model_quantize (FTYPE: llama.h's llama_ftype)
  llama_cpp_ref.py logits MODEL TOKENS OUT  teacher-forced logits of the comma-separated TOKENS,
                                            saved as a [len, vocab] float32 .npy file

Everything runs on one thread so that the numbers do not depend on the machine's core count.
"""
import ctypes
import sys

import llama_cpp
import numpy as np


def quantize(src, dst, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.allow_requantize = True
    params.nthread = 1
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize({src} -> {dst}, ftype {ftype}) returned {rc}")


def logits(model, tokens, out):
    ids = [int(t) for t in tokens.split(",")]
    llm = llama_cpp.Llama(model_path=model, n_ctx=max(64, len(ids) + 8), n_batch=512,
                          n_ubatch=512, n_threads=1, n_threads_batch=1, logits_all=True,
                          verbose=False)
    llm.eval(ids)
    np.save(out, np.asarray(llm.scores[:len(ids)], dtype=np.float32))


def main(argv):
    commands = {"quantize": (quantize, 3), "logits": (logits, 3)}
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        raise SystemExit(__doc__)
    fn, _ = commands[argv[0]]
    fn(*argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
