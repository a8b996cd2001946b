#version 330 core
// A screen-space RGBA image (HUD text, help panel) drawn over the composite with alpha
// blending. u_rect is the quad in normalised device coordinates: (x0, y0, x1, y1).

#if defined VERTEX_SHADER

uniform vec4 u_rect;
out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);  // texture row 0 is the image's top row
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, corner), 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_image;
in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = texture(u_image, v_uv);
}

#endif
