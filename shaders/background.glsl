#version 330 core
// The camera frame as a full-viewport background. No vertex buffer: the four corners of a
// triangle strip come from gl_VertexID. The frame is uploaded as it arrives (BGR, top row
// first), so the shader swaps channels and flips rows instead of the CPU doing it per frame.

#if defined VERTEX_SHADER

out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    // Texture row 0 is the image's top row, so the top of the viewport samples t = 0.
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 1.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_image;
uniform float u_dim;  // 1 = the frame as captured, < 1 darkens it (paused, help overlay)

in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = vec4(texture(u_image, v_uv).bgr * u_dim, 1.0);
}

#endif
