# Compiles GLSL compute shaders to SPIR-V with glslc at build time and embeds each one in the
# target as `const uint32_t kSpirv_<stem>[]` (header generated/shaders/<stem>.spv.h).
function(tf_compile_shaders target)
  set(out_dir ${CMAKE_BINARY_DIR}/generated/shaders)
  file(MAKE_DIRECTORY ${out_dir})
  foreach(shader ${ARGN})
    get_filename_component(stem ${shader} NAME_WE)
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/${shader})
    set(spv ${out_dir}/${stem}.spv)
    set(header ${out_dir}/${stem}.spv.h)
    add_custom_command(
      OUTPUT ${header}
      COMMAND ${TF_GLSLC} --target-env=vulkan1.2 -O -Werror -o ${spv} ${src}
      COMMAND ${CMAKE_COMMAND} -DSPV=${spv} -DHEADER=${header} -DNAME=${stem}
              -P ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
      DEPENDS ${src} ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
      COMMENT "glslc ${shader}")
    target_sources(${target} PRIVATE ${header})
  endforeach()
  target_include_directories(${target} PUBLIC ${CMAKE_BINARY_DIR}/generated)
endfunction()
