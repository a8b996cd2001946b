#version 330 core
// The synthetic test head (realtime/tools/synthetic_face.py), relit for the pose it is drawn at.
// Its texture is a frontal photo, so the photo's shading is baked into it: turned, the nose
// would keep the shadows it had facing the camera. Each vertex carries the shading the photo
// gave it (in_photo_shade: the same light model at the photo's pose); the fragment divides it
// out and applies the shading of the pose drawn, so the render at the photo's pose is the
// photo and every other pose is lit the way the light falls on it.

#if defined VERTEX_SHADER

uniform mat4 m_proj;
uniform mat4 m_view;
uniform mat4 m_tex;  // model space -> the photo's clip space

in vec3 in_position;
in vec3 in_normal;
in float in_photo_shade;

out vec3 v_normal_eye;
out vec4 v_tex_clip;
out float v_photo_shade;

void main() {
    vec4 eye = m_view * vec4(in_position, 1.0);
    v_normal_eye = mat3(m_view) * in_normal;
    v_tex_clip = m_tex * vec4(in_position, 1.0);
    v_photo_shade = in_photo_shade;
    gl_Position = m_proj * eye;
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_image;
uniform vec3 u_light_dir;  // eye space, towards the light, unit
uniform float u_ambient;   // share of the light that comes from everywhere
uniform float u_max_gain;  // a texel is brightened at most this much

in vec3 v_normal_eye;
in vec4 v_tex_clip;
in float v_photo_shade;
out vec4 f_color;

void main() {
    vec3 n = normalize(v_normal_eye);
    float shade = u_ambient + (1.0 - u_ambient) * max(dot(n, u_light_dir), 0.0);
    vec2 ndc = v_tex_clip.xy / v_tex_clip.w;
    vec2 uv = vec2(ndc.x * 0.5 + 0.5, 0.5 - ndc.y * 0.5);
    vec3 c = texture(u_image, uv).bgr * min(shade / v_photo_shade, u_max_gain);
    f_color = vec4(min(c, vec3(1.0)), 1.0);
}

#endif
