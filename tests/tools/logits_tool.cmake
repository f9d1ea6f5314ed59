add_executable(infer_logits ${CMAKE_CURRENT_LIST_DIR}/logits_tool.cc)
target_link_libraries(infer_logits PRIVATE infer::infer)
infer_target_options(infer_logits)
