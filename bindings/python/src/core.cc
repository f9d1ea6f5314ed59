// libinfer._core: the C++ library as a Python extension (pybind11). The Pythonic API is
// libinfer/__init__.py; this module is its engine room: a model with its Scheduler, request
// handles, the tokenizer, the chat rendering and the password and token helpers.
//
// Threads and the GIL: every call that may wait (loading, submitting, waiting for tokens, the
// scheduler's shutdown) releases the GIL, so other Python threads run meanwhile. Callbacks the
// Scheduler's thread makes into Python (the asyncio bridge's on_event / on_finish) take the GIL
// for their call only; the Python objects they hold are released under the GIL too.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "infer/auth.h"
#include "infer/chat.h"
#include "infer/grammar.h"
#include "infer/model.h"
#include "infer/scheduler.h"

namespace py = pybind11;

namespace infer::python {
namespace {

// The module's base exception (libinfer.Error); InvalidArgument becomes ValueError and NotFound
// FileNotFoundError, each with the library's message.
PyObject* g_error = nullptr;

[[noreturn]] void Raise(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      throw py::value_error(message);
    case absl::StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, message.c_str());
      throw py::error_already_set();
    default:
      PyErr_SetString(g_error, message.c_str());
      throw py::error_already_set();
  }
}

template <typename T>
T Take(absl::StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return *std::move(value);
}

bool Finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// A Python object a C++ callback holds, released with the GIL held whatever thread drops it.
// During the interpreter's finalization a thread that asks for the GIL is ended by Python, which
// in C++ unwinds into std::terminate: then the object is left to the process's end instead.
std::shared_ptr<py::object> HoldObject(py::object object) {
  return std::shared_ptr<py::object>(new py::object(std::move(object)), [](py::object* o) {
    if (Finalizing()) {
      (void)o->release();
      delete o;
      return;
    }
    py::gil_scoped_acquire gil;
    delete o;
  });
}

// ---- Model: the loaded model with its Scheduler ------------------------------------------------

struct PyModel {
  std::unique_ptr<Model> model;
  SchedulerOptions scheduler_options;
  std::mutex mu;  // guards the creation of `scheduler`
  std::unique_ptr<Scheduler> scheduler;

  ~PyModel() { Close(); }

  // Ends the Scheduler (cancelling what runs) and frees the model. Idempotent.
  void Close() {
    py::gil_scoped_release release;  // the step thread may be calling into Python
    std::lock_guard<std::mutex> lock(mu);
    scheduler.reset();  // before the model it runs
    model.reset();
  }

  Model& Get() {
    if (model == nullptr) throw py::value_error("the model is closed");
    return *model;
  }

  Scheduler& GetScheduler() {
    std::lock_guard<std::mutex> lock(mu);
    if (model == nullptr) throw py::value_error("the model is closed");
    if (scheduler == nullptr) {
      scheduler = Take(Scheduler::Create(*model, scheduler_options));
    }
    return *scheduler;
  }
};

std::unique_ptr<PyModel> LoadModel(const std::string& path, int threads, int64_t max_context,
                                   uint64_t kv_cache_bytes, int32_t max_num_seqs,
                                   const std::string& device, const std::string& kv_cache_dtype) {
  const KvCacheDType cache_type = Take(ParseKvCacheDType(kv_cache_dtype));
  auto out = std::make_unique<PyModel>();
  ModelOptions options;
  options.path = path;
  options.num_threads = threads;
  options.max_context = max_context;
  options.device = device;
  absl::StatusOr<std::unique_ptr<Model>> model;
  {
    py::gil_scoped_release release;
    model = Model::Load(options);
  }
  out->model = Take(std::move(model));
  out->scheduler_options.kv_cache_bytes = kv_cache_bytes;
  out->scheduler_options.kv_cache_dtype = cache_type;
  if (max_num_seqs > 0) out->scheduler_options.max_num_seqs = max_num_seqs;
  return out;
}

// ---- Chat: Python dicts (OpenAI's shapes) to the library's structs -----------------------------

std::string Str(const py::dict& d, const char* key) {
  if (!d.contains(key) || d[key].is_none()) return "";
  return py::cast<std::string>(d[key]);
}

std::vector<ChatMessage> MessagesOf(const py::list& messages) {
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!py::isinstance<py::dict>(messages[i])) {
      throw py::type_error("messages[" + std::to_string(i) + "] must be a dict");
    }
    const py::dict m = messages[i];
    ChatMessage message(Str(m, "role"), Str(m, "content"));
    if (m.contains("tool_calls") && !m["tool_calls"].is_none()) {
      for (const py::handle c : py::list(m["tool_calls"])) {
        const py::dict call = py::reinterpret_borrow<py::dict>(c);
        const py::dict function =
            call.contains("function") ? py::reinterpret_borrow<py::dict>(call["function"]) : call;
        message.tool_calls.push_back(
            {Str(call, "id"), Str(function, "name"), Str(function, "arguments")});
      }
    }
    message.tool_call_id = Str(m, "tool_call_id");
    message.name = Str(m, "name");
    out.push_back(std::move(message));
  }
  return out;
}

// `tools`: [{"name", "description", "parameters" (JSON text)}] (the Python layer flattens
// OpenAI's shape and dumps the schemas).
ChatOptions ChatOptionsOf(const py::dict& o) {
  ChatOptions out;
  if (o.contains("tools") && !o["tools"].is_none()) {
    for (const py::handle t : py::list(o["tools"])) {
      const py::dict tool = py::reinterpret_borrow<py::dict>(t);
      out.tools.push_back({Str(tool, "name"), Str(tool, "description"), Str(tool, "parameters")});
    }
  }
  const std::string choice = o.contains("tool_choice") ? Str(o, "tool_choice") : "auto";
  if (choice == "auto") {
    out.tool_choice = ToolChoice::kAuto;
  } else if (choice == "none") {
    out.tool_choice = ToolChoice::kNone;
  } else if (choice == "required") {
    out.tool_choice = ToolChoice::kRequired;
  } else {
    out.tool_choice = ToolChoice::kNamed;
    out.tool_name = choice;
  }
  if (o.contains("parallel_tool_calls")) {
    out.parallel_tool_calls = py::cast<bool>(o["parallel_tool_calls"]);
  }
  if (o.contains("add_generation_prompt")) {
    out.add_generation_prompt = py::cast<bool>(o["add_generation_prompt"]);
  }
  out.template_variables = Str(o, "template_variables");
  return out;
}

// ---- Requests ----------------------------------------------------------------------------------

SamplingParams SamplingOf(const py::dict& o) {
  SamplingParams p;
  auto get = [&](const char* key, auto* field) {
    if (o.contains(key) && !o[key].is_none()) {
      *field = py::cast<std::remove_pointer_t<decltype(field)>>(o[key]);
    }
  };
  get("temperature", &p.temperature);
  get("top_k", &p.top_k);
  get("top_p", &p.top_p);
  get("min_p", &p.min_p);
  get("repetition_penalty", &p.repetition_penalty);
  get("presence_penalty", &p.presence_penalty);
  get("frequency_penalty", &p.frequency_penalty);
  get("max_tokens", &p.max_tokens);
  get("ignore_eos", &p.ignore_eos);
  get("stop_token_ids", &p.stop_token_ids);
  if (o.contains("seed") && !o["seed"].is_none()) p.seed = py::cast<uint64_t>(o["seed"]);
  if (o.contains("logit_bias") && !o["logit_bias"].is_none()) {
    for (const auto& [token, bias] : py::dict(o["logit_bias"])) {
      p.logit_bias.emplace_back(py::cast<TokenId>(token), py::cast<float>(bias));
    }
  }
  int constraints = 0;
  if (o.contains("json_schema") && !o["json_schema"].is_none()) {
    p.grammar = Take(Grammar::FromJsonSchema(py::cast<std::string>(o["json_schema"])));
    ++constraints;
  }
  if (o.contains("regex") && !o["regex"].is_none()) {
    p.grammar = Take(Grammar::FromRegex(py::cast<std::string>(o["regex"])));
    ++constraints;
  }
  if (o.contains("choices") && !o["choices"].is_none()) {
    p.grammar = Take(Grammar::FromChoices(py::cast<std::vector<std::string>>(o["choices"])));
    ++constraints;
  }
  if (constraints > 1) throw py::value_error("json_schema, regex and choices: give one");
  return p;
}

// The request for `prompt` (str, a list of token ids, or a list of message dicts) and `options`.
Request RequestOf(PyModel& m, const py::object& prompt, const py::dict& options) {
  Request r;
  r.sampling = SamplingOf(options);
  if (options.contains("stop") && !options["stop"].is_none()) {
    r.stop = py::cast<std::vector<std::string>>(options["stop"]);
  }
  if (py::isinstance<py::str>(prompt)) {
    const std::string text = py::cast<std::string>(prompt);
    r.prompt = Take(m.Get().tokenizer().Encode(text));
  } else if (py::isinstance<py::list>(prompt) && py::len(prompt) > 0 &&
             py::isinstance<py::dict>(py::list(prompt)[0])) {
    r.messages = MessagesOf(py::list(prompt));
    r.chat = ChatOptionsOf(options);
  } else if (py::isinstance<py::list>(prompt) && py::len(prompt) > 0) {
    r.prompt = py::cast<std::vector<TokenId>>(prompt);
  } else {
    throw py::type_error("prompt must be a str, a non-empty list of token ids or of messages");
  }
  return r;
}

struct PyResult {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;
  std::vector<TokenId> token_ids;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  double time_to_first_token = 0;
  std::string error;  // the status message when finish_reason is "error"
};

PyResult ResultOf(const RequestResult& r) {
  PyResult out;
  out.text = r.text;
  out.tool_calls = r.tool_calls;
  out.finish_reason = FinishReasonName(r.finish_reason);
  for (const SampledToken& t : r.tokens) out.token_ids.push_back(t.id);
  out.prompt_tokens = r.usage.prompt_tokens;
  out.completion_tokens = r.usage.completion_tokens;
  out.cached_prompt_tokens = r.usage.cached_prompt_tokens;
  out.time_to_first_token = r.usage.time_to_first_token;
  if (!r.status.ok()) out.error = std::string(r.status.message());
  return out;
}

// A submitted request, iterated from Python. Waiting releases the GIL and wakes every 100 ms to
// let Python handle signals: Ctrl-C (KeyboardInterrupt) cancels the request and propagates.
class PyHandle {
 public:
  explicit PyHandle(RequestHandle handle) : handle_(std::move(handle)) {}

  // The next piece of text, or None at the end.
  std::optional<std::string> Next() {
    while (true) {
      bool timed_out = false;
      std::optional<StreamEvent> event;
      {
        py::gil_scoped_release release;
        event = handle_.NextFor(std::chrono::milliseconds(100), &timed_out);
      }
      if (!timed_out) {
        if (!event) return std::nullopt;
        return std::move(event->text);
      }
      CheckSignals();
    }
  }

  PyResult Wait() {
    while (true) {
      {
        py::gil_scoped_release release;
        // Drain events (a request's events queue until taken) for up to 100 ms at a time.
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        bool timed_out = false;
        bool ended = false;
        while (!timed_out && std::chrono::steady_clock::now() < until) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
              until - std::chrono::steady_clock::now());
          if (!handle_.NextFor(std::max(left, std::chrono::milliseconds(1)), &timed_out) &&
              !timed_out) {
            ended = true;
            break;
          }
        }
        if (ended) return ResultOf(handle_.Wait());
      }
      CheckSignals();
    }
  }

  void Cancel() {
    py::gil_scoped_release release;
    handle_.Cancel();
  }
  bool finished() const { return handle_.finished(); }

 private:
  void CheckSignals() {
    if (PyErr_CheckSignals() != 0) {
      Cancel();
      throw py::error_already_set();
    }
  }

  RequestHandle handle_;
};

PyHandle Submit(PyModel& m, const py::object& prompt, const py::dict& options) {
  Request request = RequestOf(m, prompt, options);
  Scheduler& scheduler = m.GetScheduler();
  py::gil_scoped_release release;
  return PyHandle(Take(scheduler.Submit(std::move(request))));
}

// For asyncio: the Scheduler's thread calls on_text(text) for each piece and on_done(result) at
// the end (each with the GIL for the call only); the Python side hops to its event loop with
// call_soon_threadsafe. Returns the handle (for cancel).
PyHandle SubmitWithCallbacks(PyModel& m, const py::object& prompt, const py::dict& options,
                             py::object on_text, py::object on_done) {
  Request request = RequestOf(m, prompt, options);
  std::shared_ptr<py::object> text_cb = HoldObject(std::move(on_text));
  std::shared_ptr<py::object> done_cb = HoldObject(std::move(on_done));
  request.on_event = [text_cb](const StreamEvent& e) {
    if (e.text.empty()) return;
    py::gil_scoped_acquire gil;
    try {
      (*text_cb)(py::bytes(e.text));
    } catch (py::error_already_set& err) {
      err.discard_as_unraisable("libinfer stream callback");
    }
  };
  request.on_finish = [done_cb](const RequestResult& r) {
    PyResult result = ResultOf(r);
    py::gil_scoped_acquire gil;
    try {
      (*done_cb)(py::cast(std::move(result)));
    } catch (py::error_already_set& err) {
      err.discard_as_unraisable("libinfer finish callback");
    }
  };
  Scheduler& scheduler = m.GetScheduler();
  py::gil_scoped_release release;
  return PyHandle(Take(scheduler.Submit(std::move(request))));
}

}  // namespace
}  // namespace infer::python

PYBIND11_MODULE(_core, mod) {
  using namespace infer;          // NOLINT(google-build-using-namespace)
  using namespace infer::python;  // NOLINT(google-build-using-namespace)
  mod.doc() = "libinfer's C++ core (use the libinfer package's API)";
  g_error = PyErr_NewException("libinfer.Error", PyExc_RuntimeError, nullptr);
  mod.attr("Error") = py::handle(g_error);

  py::class_<ModelInfo>(mod, "ModelInfo")
      .def_readonly("path", &ModelInfo::path)
      .def_readonly("format", &ModelInfo::format)
      .def_readonly("architecture", &ModelInfo::architecture)
      .def_readonly("name", &ModelInfo::name)
      .def_readonly("vocab_size", &ModelInfo::vocab_size)
      .def_readonly("hidden_size", &ModelInfo::hidden_size)
      .def_readonly("num_layers", &ModelInfo::num_layers)
      .def_readonly("num_heads", &ModelInfo::num_heads)
      .def_readonly("num_kv_heads", &ModelInfo::num_kv_heads)
      .def_readonly("context_length", &ModelInfo::context_length)
      .def_readonly("file_type", &ModelInfo::file_type)
      .def_readonly("weight_types", &ModelInfo::weight_types)
      .def_readonly("parameter_count", &ModelInfo::parameter_count)
      .def_readonly("cpu_kernels", &ModelInfo::cpu_kernels)
      .def_readonly("cpu_model", &ModelInfo::cpu_model)
      .def_readonly("num_threads", &ModelInfo::num_threads)
      .def_readonly("device", &ModelInfo::device)
      .def("__repr__", [](const ModelInfo& i) {
        return "ModelInfo(name='" + i.name + "', architecture='" + i.architecture +
               "', file_type='" + i.file_type + "', layers=" + std::to_string(i.num_layers) +
               ", context_length=" + std::to_string(i.context_length) + ")";
      });

  py::class_<ToolCall>(mod, "ToolCall")
      .def_readonly("id", &ToolCall::id)
      .def_readonly("name", &ToolCall::name)
      .def_readonly("arguments", &ToolCall::arguments)
      .def("__repr__", [](const ToolCall& c) {
        return "ToolCall(name='" + c.name + "', arguments=" + c.arguments + ")";
      });

  py::class_<PyResult>(mod, "Result")
      .def_readonly("text", &PyResult::text)
      .def_readonly("tool_calls", &PyResult::tool_calls)
      .def_readonly("finish_reason", &PyResult::finish_reason)
      .def_readonly("token_ids", &PyResult::token_ids)
      .def_readonly("prompt_tokens", &PyResult::prompt_tokens)
      .def_readonly("completion_tokens", &PyResult::completion_tokens)
      .def_readonly("cached_prompt_tokens", &PyResult::cached_prompt_tokens)
      .def_readonly("time_to_first_token", &PyResult::time_to_first_token)
      .def_readonly("error", &PyResult::error);

  py::class_<PyHandle>(mod, "Handle")
      .def("next", &PyHandle::Next)
      .def("wait", &PyHandle::Wait)
      .def("cancel", &PyHandle::Cancel)
      .def_property_readonly("finished", &PyHandle::finished);

  py::class_<Tokenizer, std::unique_ptr<Tokenizer, py::nodelete>>(mod, "Tokenizer")
      .def(
          "encode",
          [](const Tokenizer& t, const std::string& text, bool add_bos, bool parse_special) {
            EncodeOptions o;
            o.add_bos = add_bos;
            o.parse_special = parse_special;
            return Take(t.Encode(text, o));
          },
          py::arg("text"), py::arg("add_bos") = true, py::arg("parse_special") = true)
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<TokenId>& ids) { return Take(t.Decode(ids)); },
          py::arg("ids"))
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def_property_readonly("bos_id", &Tokenizer::bos_id)
      .def_property_readonly("eos_id", &Tokenizer::eos_id);

  py::class_<PyModel>(mod, "Model")
      .def_static("load", &LoadModel, py::arg("path"), py::arg("threads") = 0,
                  py::arg("max_context") = 0, py::arg("kv_cache_bytes") = 0,
                  py::arg("max_num_seqs") = 0, py::arg("device") = "cpu",
                  py::arg("kv_cache_dtype") = "auto")
      .def("close", &PyModel::Close)
      .def_property_readonly("info", [](PyModel& m) { return m.Get().info(); })
      .def_property_readonly(
          "tokenizer", [](PyModel& m) { return &m.Get().tokenizer(); },
          py::return_value_policy::reference_internal)
      .def_property_readonly("chat_template", [](PyModel& m) { return m.Get().chat_template(); })
      .def(
          "render_chat",
          [](PyModel& m, const py::list& messages, const py::dict& options) {
            const std::vector<ChatMessage> chat = MessagesOf(messages);
            return Take(m.Get().RenderChat(chat, ChatOptionsOf(options)));
          },
          py::arg("messages"), py::arg("options"))
      .def(
          "logits",
          [](PyModel& m, const std::vector<TokenId>& ids) {
            absl::StatusOr<std::vector<float>> logits;
            {
              py::gil_scoped_release release;
              logits = m.Get().ComputeLogits(ids);
            }
            return Take(std::move(logits));
          },
          py::arg("ids"))
      .def("submit", &Submit, py::arg("prompt"), py::arg("options"))
      .def("submit_with_callbacks", &SubmitWithCallbacks, py::arg("prompt"), py::arg("options"),
           py::arg("on_text"), py::arg("on_done"));

  // The password and token helpers (the same as `infer-cli gen-password`).
  mod.def(
      "hash_password",
      [](const std::string& password) {
        absl::StatusOr<std::string> hash;
        {
          py::gil_scoped_release release;  // argon2id takes a while, on purpose
          hash = HashPassword(password);
        }
        return Take(std::move(hash));
      },
      py::arg("password"));
  mod.def(
      "verify_password",
      [](const std::string& stored_hash, const std::string& password) {
        absl::StatusOr<bool> ok;
        {
          py::gil_scoped_release release;
          ok = VerifyPassword(stored_hash, password);
        }
        return Take(std::move(ok));
      },
      py::arg("stored_hash"), py::arg("password"));
  mod.def("generate_jwt_key", [] { return Take(GenerateJwtKey()); });

  py::class_<Claims>(mod, "Claims")
      .def_readonly("subject", &Claims::subject)
      .def_property_readonly("role", [](const Claims& c) { return std::string(RoleName(c.role)); })
      .def_readonly("expires_at", &Claims::expires_at)
      .def_readonly("issued_at", &Claims::issued_at);

  py::class_<AuthStore>(mod, "AuthStore")
      .def_static(
          "from_file", [](const std::string& path) { return Take(AuthStore::FromFile(path)); },
          py::arg("path"))
      .def(
          "login",
          [](AuthStore& store, const std::string& username, const std::string& password) {
            absl::StatusOr<IssuedToken> token;
            {
              py::gil_scoped_release release;
              token = store.Login(username, password, "");
            }
            return Take(std::move(token)).access_token;
          },
          py::arg("username"), py::arg("password"))
      .def(
          "verify",
          [](const AuthStore& store, const std::string& token) {
            return Take(store.Verify(token));
          },
          py::arg("token"));
}
