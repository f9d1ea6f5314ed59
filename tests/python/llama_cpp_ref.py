"""llama.cpp (through llama-cpp-python) as an independent reference, run by the interpreter of
scripts/llama_cpp_venv.sh, never imported by the tests themselves:

  llama_cpp_ref.py quantize SRC DST FTYPE   llama_model_quantize (FTYPE: llama.h's llama_ftype)
  llama_cpp_ref.py logits MODEL TOKENS OUT  teacher-forced logits of the comma-separated TOKENS,
                                            saved as a [len, vocab] float32 .npy file

Everything runs on one thread so that the numbers do not depend on the machine's core count.
load() is how every script here opens a model in llama.cpp (bench/compare_llama_cpp.py too).
"""
import ctypes
import sys

import llama_cpp
import llama_cpp.llama_cpp as llama_cpp_lib
import numpy as np


def cpu_has_amx():
    """Whether /proc/cpuinfo lists AMX-INT8 (Linux; False elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return " amx_int8" in line
    except OSError:
        pass
    return False


def extra_buffer_types():
    """Whether llama.cpp may use its extra CPU buffer types (AMX tiles, repacked weights): its
    default, except where the CPU has AMX. There llama-cpp-python 0.3.36's AMX matmul crashed
    (SIGSEGV in ggml_backend_amx_mul_mat at the first eval, on an Intel Xeon VM with AMX; the
    same as llama.cpp issue 20824), so llama.cpp runs on its AVX-512 kernels instead."""
    return not cpu_has_amx()


def load(model, **kwargs):
    """llama_cpp.Llama(model_path=model, **kwargs), with extra_buffer_types() applied (Llama()
    takes its model parameters from llama_model_default_params(), which is wrapped here)."""
    default = llama_cpp_lib.llama_model_default_params
    use_extra = extra_buffer_types()

    def params():
        p = default()
        if hasattr(p, "use_extra_bufts"):
            p.use_extra_bufts = use_extra
        return p

    llama_cpp_lib.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=model, **kwargs)
    finally:
        llama_cpp_lib.llama_model_default_params = default


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
    llm = load(model, n_ctx=max(64, len(ids) + 8), n_batch=512, n_ubatch=512, n_threads=1,
               n_threads_batch=1, logits_all=True, verbose=False)
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
