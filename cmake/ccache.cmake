# Routes every compiler through ccache when it is installed, so CI's cold builds and everyone's
# rebuilds after a branch switch stay fast.
find_program(TF_CCACHE ccache)
if(TF_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${TF_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${TF_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${TF_CCACHE})
endif()
