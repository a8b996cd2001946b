#version 330 core
// Tinted transparent lenses. Opacity rises towards grazing angles with Schlick's Fresnel
// term, F = F0 + (1 - F0) (1 - cos theta)^5, so lenses read as glass from the side and stay
// see-through face-on; a sky reflection and a highlight sit on top.

#if defined VERTEX_SHADER

#include "lit_vertex.glsl"

#elif defined FRAGMENT_SHADER

uniform vec3 u_tint;       // lens colour
uniform float u_opacity;   // face-on opacity of the tint, 0..1
uniform float u_f0;        // reflectance at normal incidence (0.04 for glass and CR-39)
uniform vec3 u_light_dir;

in vec3 v_pos_eye;
in vec3 v_normal_eye;
out vec4 f_color;

void main() {
    vec3 n = normalize(v_normal_eye);
    vec3 v = normalize(-v_pos_eye);
    if (dot(n, v) < 0.0) n = -n;
    float cos_theta = clamp(dot(n, v), 0.0, 1.0);
    float fresnel = u_f0 + (1.0 - u_f0) * pow(1.0 - cos_theta, 5.0);
    vec3 r = reflect(-v, n);
    vec3 sky = mix(vec3(0.35, 0.38, 0.42), vec3(0.95, 0.97, 1.0), smoothstep(-0.2, 0.6, r.y));
    float spec = pow(max(dot(n, normalize(normalize(u_light_dir) + v)), 0.0), 96.0);
    // Premultiplied colour: the tint absorbs, the reflection adds.
    float alpha = clamp(u_opacity + fresnel * 0.85 + spec, 0.0, 1.0);
    vec3 color = u_tint * u_opacity * (1.0 - fresnel) + sky * fresnel * 0.85 + vec3(spec);
    f_color = vec4(color, alpha);
}

#endif
