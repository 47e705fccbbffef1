# Warnings are errors in our own code; generated and third-party code is built without this.
# -Wrestrict is off: GCC 12 reports impossible overlaps inside std::string concatenation at -O3
# (GCC bug 105651), in code that has none.
function(tf_strict target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor
                              -Wold-style-cast -Wcast-align
                              -Wimplicit-fallthrough -Wno-restrict>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
