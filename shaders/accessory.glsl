#version 330 core
// An accessory's opaque parts (a glasses frame, a headband): plastic or cloth (coloured
// diffuse, white highlight) or metal (tinted specular and a fake environment reflection: there
// is no environment map, a sky/floor gradient is enough for thin wire to read as polished metal).

#if defined VERTEX_SHADER

#include "lit_vertex.glsl"

#elif defined FRAGMENT_SHADER

uniform vec3 u_color;
uniform float u_metal;      // 0 plastic, 1 metal
uniform float u_shininess;  // Blinn-Phong exponent
uniform vec3 u_light_dir;   // eye space, towards the light

in vec3 v_pos_eye;
in vec3 v_normal_eye;
out vec4 f_color;

vec3 environment(vec3 r) {
    // Eye-space y is up: bright sky above, dark floor below, a soft horizon band.
    vec3 sky = vec3(0.95, 0.97, 1.0);
    vec3 floor_ = vec3(0.18, 0.16, 0.15);
    return mix(floor_, sky, smoothstep(-0.25, 0.45, r.y));
}

void main() {
    vec3 n = normalize(v_normal_eye);
    vec3 v = normalize(-v_pos_eye);
    if (dot(n, v) < 0.0) n = -n;
    vec3 l = normalize(u_light_dir);
    vec3 h = normalize(l + v);
    float diffuse = max(dot(n, l), 0.0);
    float spec = pow(max(dot(n, h), 0.0), u_shininess);
    vec3 plastic = u_color * (0.22 + 0.78 * diffuse) + vec3(0.55) * spec;
    vec3 r = reflect(-v, n);
    vec3 metal = u_color * (0.15 + 0.25 * diffuse) + u_color * environment(r) * 0.75 + vec3(0.9) * spec;
    f_color = vec4(mix(plastic, metal, u_metal), 1.0);
}

#endif
