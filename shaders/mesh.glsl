#version 330 core
// Face mesh and head proxy. One program for every way the reconstruction is drawn:
//   u_mode 0: flat u_color (wireframe lines, the depth-only occluder, debug silhouettes)
//   u_mode 1: shaded clay (Lambert + a little specular)
//   u_mode 2: textured with the camera frame, projected through m_tex (the real camera's
//             projection), so the 3D view shows the photo wrapped on the mesh.

#if defined VERTEX_SHADER

uniform mat4 m_proj;
uniform mat4 m_view;
uniform mat4 m_model;
uniform mat4 m_tex;  // camera space (OpenCV, mm) -> camera clip space, for u_mode 2

in vec3 in_position;
in vec3 in_normal;

out vec3 v_pos_eye;
out vec3 v_normal_eye;
out vec4 v_tex_clip;

void main() {
    vec4 world = m_model * vec4(in_position, 1.0);
    vec4 eye = m_view * world;
    v_pos_eye = eye.xyz;
    v_normal_eye = mat3(m_view * m_model) * in_normal;
    v_tex_clip = m_tex * world;
    gl_Position = m_proj * eye;
}

#elif defined FRAGMENT_SHADER

uniform int u_mode;
uniform vec3 u_color;
uniform float u_alpha;
uniform vec3 u_light_dir;  // eye space, towards the light
uniform sampler2D u_image;

in vec3 v_pos_eye;
in vec3 v_normal_eye;
in vec4 v_tex_clip;
out vec4 f_color;

void main() {
    if (u_mode == 0) {
        f_color = vec4(u_color, u_alpha);
        return;
    }
    vec3 n = normalize(v_normal_eye);
    vec3 v = normalize(-v_pos_eye);
    if (dot(n, v) < 0.0) n = -n;  // back faces seen through holes are lit like front faces
    vec3 l = normalize(u_light_dir);
    float diffuse = max(dot(n, l), 0.0);
    if (u_mode == 1) {
        float spec = pow(max(dot(n, normalize(l + v)), 0.0), 24.0);
        vec3 c = u_color * (0.28 + 0.72 * diffuse) + 0.12 * spec;
        f_color = vec4(c, u_alpha);
    } else {
        vec2 ndc = v_tex_clip.xy / v_tex_clip.w;
        vec2 uv = vec2(ndc.x * 0.5 + 0.5, 0.5 - ndc.y * 0.5);
        vec3 c = texture(u_image, uv).bgr;
        f_color = vec4(c * (0.75 + 0.25 * diffuse), u_alpha);
    }
}

#endif
