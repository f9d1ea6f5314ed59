# Compile options shared by every libinfer target (never set globally: a host's flags stay its own).
function(infer_target_options target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${INFER_WERROR}>>:-Werror>)
  if(INFER_SANITIZE)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${INFER_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
    target_link_options(${target} PRIVATE -fsanitize=${INFER_SANITIZE})
    # GCC warns that TSan does not model std::atomic_thread_fence, which Boost.Asio's handler
    # recycling uses; the warning is about Boost's headers, not an error in our code.
    if(INFER_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-tsan>)
    endif()
  endif()
endfunction()

# infer_module(NAME SOURCES ... [DEPS other modules] [LIBS external targets])
# One OBJECT library per layer (libinfer/<name>/); the installed `infer` library is made of all of
# them. Tests may link one module and the modules below it.
function(infer_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(infer_${name} OBJECT ${M_SOURCES})
  target_include_directories(infer_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  foreach(dep IN LISTS M_DEPS)
    target_link_libraries(infer_${name} PUBLIC infer_${dep})
  endforeach()
  target_link_libraries(infer_${name} PUBLIC ${M_LIBS})
  set_property(TARGET infer_${name} PROPERTY INFER_MODULE_DEPS ${M_DEPS})
  set_property(TARGET infer_${name} PROPERTY INFER_MODULE_LIBS ${M_LIBS})
  infer_target_options(infer_${name})
  set_property(GLOBAL APPEND PROPERTY INFER_MODULES infer_${name})
endfunction()

# infer_module_sources(OUT name): the absolute paths of module `name`'s sources (for a build that
# compiles them again, such as the fuzzers' instrumented copies), so the list is stated once.
function(infer_module_sources out name)
  get_target_property(sources infer_${name} SOURCES)
  get_target_property(dir infer_${name} SOURCE_DIR)
  set(paths)
  foreach(source IN LISTS sources)
    if(IS_ABSOLUTE "${source}")
      list(APPEND paths "${source}")
    else()
      list(APPEND paths "${dir}/${source}")
    endif()
  endforeach()
  set(${out} ${paths} PARENT_SCOPE)
endfunction()

# infer_link_modules(TARGET modules...): links the modules and every module below them. (An
# OBJECT library's objects reach only targets that link it directly, so the closure is explicit.)
function(infer_link_modules target)
  set(todo ${ARGN})
  set(seen)
  while(todo)
    list(POP_FRONT todo mod)
    if(mod IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${mod})
    get_property(below TARGET infer_${mod} PROPERTY INFER_MODULE_DEPS)
    list(APPEND todo ${below})
  endwhile()
  foreach(mod IN LISTS seen)
    target_link_libraries(${target} PRIVATE infer_${mod})
  endforeach()
endfunction()

# infer_test(NAME SOURCES ... DEPS modules...) : a GoogleTest binary registered with CTest.
function(infer_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  infer_link_modules(${name} ${T_DEPS})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main GTest::gmock)
  infer_target_options(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "INFER_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data" LABELS "${T_LABELS}")
endfunction()
