#version 450
// out[i] = in[i] * scale + shift: the Vulkan backend's smallest kernel, used by its self test.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Input { float values[]; } src;
layout(std430, binding = 1) writeonly buffer Output { float values[]; } dst;
layout(push_constant) uniform Params { uint count; float scale; float shift; } params;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < params.count) {
    dst.values[i] = src.values[i] * params.scale + params.shift;
  }
}
