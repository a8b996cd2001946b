// Vertex stage shared by the lit accessory programs (opaque parts and lenses), spliced in by the
// loader's include line: eye-space position and normal for per-fragment lighting.
uniform mat4 m_proj;
uniform mat4 m_view;
uniform mat4 m_model;

in vec3 in_position;
in vec3 in_normal;

out vec3 v_pos_eye;
out vec3 v_normal_eye;

void main() {
    vec4 eye = m_view * m_model * vec4(in_position, 1.0);
    v_pos_eye = eye.xyz;
    v_normal_eye = mat3(m_view * m_model) * in_normal;
    gl_Position = m_proj * eye;
}
