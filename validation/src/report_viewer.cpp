// The report's three planes: plane montages and the embedded viewer (docs/report.md).
#include "medsynth/validation/report_viewer.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <tuple>

#include "medsynth/error.h"

namespace medsynth::validation {

using nlohmann::json;

namespace {

constexpr Plane kPlanes[] = {Plane::kAxial, Plane::kSagittal, Plane::kCoronal};
constexpr const char* kIndexLetter[] = {"i", "j", "k"};

// Index box [lo, hi] (inclusive) of the voxels that pass `inside`; empty when none does.
struct Box {
  std::array<std::size_t, 3> lo{}, hi{};
  bool empty = true;
};

template <typename Inside>
Box box_of(const io::Geometry& g, Inside inside) {
  Box b;
  std::size_t n = 0;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++n) {
        if (!inside(n)) continue;
        const std::array<std::size_t, 3> p{i, j, k};
        for (std::size_t a = 0; a < 3; ++a) {
          b.lo[a] = b.empty ? p[a] : std::min(b.lo[a], p[a]);
          b.hi[a] = b.empty ? p[a] : std::max(b.hi[a], p[a]);
        }
        b.empty = false;
      }
  return b;
}

std::string number(double v, int digits) {
  std::ostringstream o;
  o << std::setprecision(digits) << v;
  return o.str();
}

std::string base64(const std::vector<unsigned char>& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    const unsigned v = (in[i] << 16) | (i + 1 < in.size() ? in[i + 1] << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// zlib format (RFC 1950): what the browser's DecompressionStream("deflate") reads.
std::vector<unsigned char> deflate(const std::vector<std::uint8_t>& in) {
  uLongf n = compressBound(static_cast<uLong>(in.size()));
  std::vector<unsigned char> out(n);
  if (compress2(out.data(), &n, in.data(), static_cast<uLong>(in.size()), 6) != Z_OK)
    throw Error("report viewer: compressing the volumes failed");
  out.resize(n);
  return out;
}

// The viewer's script: decodes both volumes, draws each plane's cut of real, synthetic and
// |difference| on canvases, and wires the sliders, wheel, drag (window/level) and click
// (crosshair). It sets data-status on #msv to "ready" after the first draw, or "error: ...".
const char* kViewerScript = R"JS(
(function () {
  'use strict';
  const root = document.getElementById('msv');
  const msg = document.getElementById('msv-msg');
  function fail(why) {
    root.setAttribute('data-status', 'error: ' + why);
    msg.textContent = 'The viewer could not start: ' + why + '. The montages above show the same volumes.';
  }
  let cfg;
  try {
    cfg = JSON.parse(document.getElementById('msv-config').textContent);
  } catch (e) {
    fail('its settings do not parse');
    return;
  }
  if (typeof DecompressionStream === 'undefined' || typeof Response === 'undefined') {
    fail('this browser has no DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later have it)');
    return;
  }
  function inflate(id) {
    const text = document.getElementById(id).textContent.trim();
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; ++i) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Response(stream).arrayBuffer().then((b) => new Uint8Array(b));
  }
  Promise.all([inflate('msv-real'), inflate('msv-synthetic')]).then(start).catch((e) => fail(String(e)));

  function start(vols) {
    const [real, syn] = vols;
    const [NX, NY, NZ] = cfg.size, [SX, SY, SZ] = cfg.spacing;
    if (real.length !== NX * NY * NZ || syn.length !== NX * NY * NZ) {
      fail('the embedded volumes hold ' + real.length + ' and ' + syn.length + ' voxels, not ' + NX * NY * NZ);
      return;
    }
    const low = cfg.low, L = cfg.range;
    // Each plane: image width and height in voxels, pixel size, slice count, and the voxel
    // offset of display pixel (x, y) in slice s. Superior is at the top of sagittal and coronal
    // cuts, anterior at the top of axial ones; the patient's left is on the right.
    const planes = {
      axial: {w: NX, h: NY, pw: SX, ph: SY, n: NZ, axis: 2, sides: 'APRL', at: (x, y, s) => x + NX * (y + NY * s)},
      sagittal: {w: NY, h: NZ, pw: SY, ph: SZ, n: NX, axis: 0, sides: 'SIAP', at: (x, y, s) => s + NX * (x + NY * (NZ - 1 - y))},
      coronal: {w: NX, h: NZ, pw: SX, ph: SZ, n: NY, axis: 1, sides: 'SIRL', at: (x, y, s) => x + NX * (s + NY * (NZ - 1 - y))},
    };
    const point = [NX >> 1, NY >> 1, NZ >> 1];  // the crosshair, canonical voxel (L, P, S)
    // Display pixel of the crosshair in a plane, and the point a click there selects.
    function cross(name) {
      if (name === 'axial') return [point[0], point[1]];
      if (name === 'sagittal') return [point[1], NZ - 1 - point[2]];
      return [point[0], NZ - 1 - point[2]];
    }
    function pick(name, x, y) {
      if (name === 'axial') { point[0] = x; point[1] = y; }
      else if (name === 'sagittal') { point[1] = x; point[2] = NZ - 1 - y; }
      else { point[0] = x; point[2] = NZ - 1 - y; }
    }
    const extent = Math.max(NX * SX, NY * SY, NZ * SZ);
    const scale = 320 / extent;  // CSS pixels per mm, one for all planes
    const state = {width: L, level: low + L / 2, dmax: cfg.difference_scale, crosshair: true};
    const controls = {
      width: document.getElementById('msv-window'),
      level: document.getElementById('msv-level'),
      dmax: document.getElementById('msv-dmax'),
    };
    function setupSlider(el, min, max, value) {
      el.min = min; el.max = max; el.step = (max - min) / 1000; el.value = value;
    }
    setupSlider(controls.width, L / 100, 2 * L, state.width);
    setupSlider(controls.level, low - L / 2, low + 1.5 * L, state.level);
    setupSlider(controls.dmax, L / 255, L, state.dmax);
    // Image units of an 8-bit voxel (quantised: one step is L / 255).
    const units = (q) => low + (q / 255) * L;
    let grey = new Uint8Array(256), hot = new Uint8Array(256 * 3);
    function luts() {
      const lo = state.level - state.width / 2;
      for (let q = 0; q < 256; ++q) {
        grey[q] = Math.max(0, Math.min(255, Math.round(((units(q) - lo) / state.width) * 255)));
        const t = Math.max(0, Math.min(1, ((q / 255) * L) / state.dmax));
        hot[3 * q] = Math.round(255 * Math.min(1, 3 * t));
        hot[3 * q + 1] = Math.round(255 * Math.max(0, Math.min(1, 3 * t - 1)));
        hot[3 * q + 2] = Math.round(255 * Math.max(0, Math.min(1, 3 * t - 2)));
      }
    }
    function originalIndex(a, c) {
      // Centre of the embedded voxel in the real grid's index along its index axis.
      const u = cfg.crop_begin[a] + c * cfg.factor + Math.floor((cfg.factor - 1) / 2);
      const v = cfg.flipped[a] ? cfg.full_size[a] - 1 - u : u;
      return ['i', 'j', 'k'][cfg.index_axis[a]] + ' = ' + v;
    }
    for (const name of Object.keys(planes)) {
      const p = planes[name];
      const box = root.querySelector('.msv-plane[data-plane="' + name + '"]');
      p.slider = box.querySelector('.msv-slice');
      p.label = box.querySelector('.msv-pos');
      p.slider.min = 0; p.slider.max = p.n - 1; p.slider.step = 1;
      p.canvases = Array.from(box.querySelectorAll('canvas'));
      p.W = Math.max(1, Math.round(p.w * p.pw * scale));
      p.H = Math.max(1, Math.round(p.h * p.ph * scale));
      p.off = document.createElement('canvas');
      p.off.width = p.w; p.off.height = p.h;
      p.img = p.off.getContext('2d').createImageData(p.w, p.h);
      for (const c of p.canvases) {
        c.width = p.W; c.height = p.H;
        c.style.width = p.W + 'px'; c.style.height = p.H + 'px';
      }
      p.slider.addEventListener('input', () => { point[p.axis] = Number(p.slider.value); draw(); });
      for (const c of p.canvases) wire(name, c);
    }
    // Wheel: the next or previous slice. Drag: window (horizontal) and level (vertical), or the
    // difference scale on the difference canvas. Click without dragging: move the crosshair.
    function wire(name, c) {
      const p = planes[name];
      c.addEventListener('wheel', (e) => {
        e.preventDefault();
        const s = point[p.axis] + (e.deltaY < 0 ? 1 : -1);
        point[p.axis] = Math.max(0, Math.min(p.n - 1, s));
        draw();
      }, {passive: false});
      let drag = null;
      c.addEventListener('pointerdown', (e) => {
        drag = {x: e.clientX, y: e.clientY, moved: false, width: state.width, level: state.level, dmax: state.dmax};
        try {
          c.setPointerCapture(e.pointerId);  // keep the drag when the pointer leaves the canvas
        } catch (err) {
          // not an active pointer (a synthetic event): the drag works within the canvas
        }
      });
      c.addEventListener('pointermove', (e) => {
        readout(name, c, e);
        if (!drag) return;
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        if (!drag.moved) return;
        if (c.dataset.kind === 'difference') {
          state.dmax = Math.max(L / 255, Math.min(L, drag.dmax * Math.exp(dx / 150)));
        } else {
          state.width = Math.max(L / 100, Math.min(2 * L, drag.width * Math.exp(dx / 150)));
          state.level = Math.max(low - L / 2, Math.min(low + 1.5 * L, drag.level + (dy * L) / 300));
        }
        sync();
        draw();
      });
      c.addEventListener('pointerup', (e) => {
        if (drag && !drag.moved) {
          const r = c.getBoundingClientRect();
          const x = Math.floor(((e.clientX - r.left) / r.width) * p.w), y = Math.floor(((e.clientY - r.top) / r.height) * p.h);
          if (x >= 0 && y >= 0 && x < p.w && y < p.h) { pick(name, x, y); draw(); }
        }
        drag = null;
      });
      c.addEventListener('pointerleave', () => { document.getElementById('msv-readout').textContent = ''; });
    }
    function readout(name, c, e) {
      const p = planes[name];
      const r = c.getBoundingClientRect();
      const x = Math.floor(((e.clientX - r.left) / r.width) * p.w), y = Math.floor(((e.clientY - r.top) / r.height) * p.h);
      if (x < 0 || y < 0 || x >= p.w || y >= p.h) return;
      const o = p.at(x, y, point[p.axis]);
      const q = [0, 0, 0];
      if (name === 'axial') { q[0] = x; q[1] = y; q[2] = point[2]; }
      else if (name === 'sagittal') { q[0] = point[0]; q[1] = x; q[2] = NZ - 1 - y; }
      else { q[0] = x; q[1] = point[1]; q[2] = NZ - 1 - y; }
      document.getElementById('msv-readout').textContent =
          'real ≈ ' + units(real[o]).toPrecision(4) + ' · synthetic ≈ ' + units(syn[o]).toPrecision(4) +
          ' · |difference| ≈ ' + ((Math.abs(syn[o] - real[o]) / 255) * L).toPrecision(3) + ' at ' +
          [0, 1, 2].map((a) => originalIndex(a, q[a])).join(', ');
    }
    function sync() {
      controls.width.value = state.width; controls.level.value = state.level; controls.dmax.value = state.dmax;
      document.getElementById('msv-window-v').textContent = state.width.toPrecision(4);
      document.getElementById('msv-level-v').textContent = state.level.toPrecision(4);
      document.getElementById('msv-dmax-v').textContent = state.dmax.toPrecision(3);
    }
    function drawPlane(name) {
      const p = planes[name];
      const s = point[p.axis];
      const data = p.img.data;
      const [cx, cy] = cross(name);
      for (let k = 0; k < 3; ++k) {
        let lit = 0;
        for (let y = 0, d = 0; y < p.h; ++y)
          for (let x = 0; x < p.w; ++x, d += 4) {
            const o = p.at(x, y, s);
            if (k < 2) {
              const g = grey[k === 0 ? real[o] : syn[o]];
              data[d] = data[d + 1] = data[d + 2] = g;
            } else {
              const q = 3 * Math.abs(syn[o] - real[o]);
              data[d] = hot[q]; data[d + 1] = hot[q + 1]; data[d + 2] = hot[q + 2];
            }
            data[d + 3] = 255;
            if (data[d] | data[d + 1] | data[d + 2]) ++lit;
          }
        p.off.getContext('2d').putImageData(p.img, 0, 0);
        const c = p.canvases[k], ctx = c.getContext('2d');
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(p.off, 0, 0, p.W, p.H);
        if (state.crosshair) {
          ctx.strokeStyle = 'rgba(0, 220, 90, 0.75)';
          ctx.lineWidth = 1;
          const X = Math.round(((cx + 0.5) / p.w) * p.W) + 0.5, Y = Math.round(((cy + 0.5) / p.h) * p.H) + 0.5;
          ctx.beginPath();
          ctx.moveTo(X, 0); ctx.lineTo(X, p.H); ctx.moveTo(0, Y); ctx.lineTo(p.W, Y);
          ctx.stroke();
        }
        // Where the patient's sides are: top, bottom, left, right.
        ctx.fillStyle = 'rgba(255, 225, 120, 0.9)';
        ctx.font = '11px sans-serif';
        ctx.textAlign = 'center';
        ctx.textBaseline = 'top'; ctx.fillText(p.sides[0], p.W / 2, 3);
        ctx.textBaseline = 'bottom'; ctx.fillText(p.sides[1], p.W / 2, p.H - 3);
        ctx.textBaseline = 'middle';
        ctx.textAlign = 'left'; ctx.fillText(p.sides[2], 3, p.H / 2);
        ctx.textAlign = 'right'; ctx.fillText(p.sides[3], p.W - 3, p.H / 2);
        c.dataset.lit = (lit / (p.w * p.h)).toFixed(3);
      }
      p.slider.value = s;
      p.label.textContent = originalIndex(p.axis, s) + ' (' + (s + 1) + ' of ' + p.n + ')';
    }
    function draw() {
      luts();
      for (const name of Object.keys(planes)) drawPlane(name);
    }
    controls.width.addEventListener('input', () => { state.width = Number(controls.width.value); sync(); draw(); });
    controls.level.addEventListener('input', () => { state.level = Number(controls.level.value); sync(); draw(); });
    controls.dmax.addEventListener('input', () => { state.dmax = Number(controls.dmax.value); sync(); draw(); });
    document.getElementById('msv-cross').addEventListener('change', (e) => { state.crosshair = e.target.checked; draw(); });
    document.getElementById('msv-reset').addEventListener('click', () => {
      state.width = L; state.level = low + L / 2; state.dmax = cfg.difference_scale;
      point[0] = NX >> 1; point[1] = NY >> 1; point[2] = NZ >> 1;
      sync(); draw();
    });
    sync();
    draw();
    msg.textContent = '';
    root.setAttribute('data-status', 'ready');
  }
})();
)JS";

const char* kCss = R"CSS(
.planes{display:flex;flex-wrap:wrap;gap:0 8px}
#msv{background:#fff;border:1px solid #d9dde2;border-radius:6px;padding:8px 12px;margin:8px 0}
.msv-controls{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;font-size:12px;margin-bottom:6px}
.msv-controls input[type=range]{width:150px;vertical-align:middle}.msv-controls output{display:inline-block;min-width:44px}
.msv-head{font-size:12px;margin:8px 0 4px;display:flex;gap:10px;align-items:center}
.msv-head b{min-width:64px}.msv-head input{width:260px}
.msv-row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.msv-cell{font-size:11px;color:#5c6570;text-align:center}
.msv-cell canvas{display:block;background:#000;cursor:crosshair;touch-action:none}
#msv-readout{min-height:1.4em;font-variant-numeric:tabular-nums}
)CSS";

}  // namespace

json write_plane_montages(const io::Volume& real, const io::Volume& synthetic, const io::Volume* mask, double low,
                          double range, double difference_scale, const std::string& images_dir) {
  const io::Geometry& g = real.geometry;
  const CanonicalAxes axes = oriented_axes(g);
  const double cut = low + 0.1 * range;
  Box box = mask ? box_of(g, [&](std::size_t n) { return mask->voxels[n] != 0.0f; })
                 : box_of(g, [&](std::size_t n) { return real.voxels[n] > cut; });
  if (box.empty) box = box_of(g, [](std::size_t) { return true; });
  json out = json::object();
  for (Plane p : kPlanes) {
    const auto axis = static_cast<std::size_t>(axes.index_axis[static_cast<std::size_t>(plane_normal(p))]);
    std::vector<std::size_t> picks;
    for (double t : {0.3, 0.5, 0.7}) {
      const auto k = box.lo[axis] + static_cast<std::size_t>(std::lround(t * static_cast<double>(box.hi[axis] - box.lo[axis])));
      if (std::find(picks.begin(), picks.end(), k) == picks.end()) picks.push_back(k);
    }
    json cuts = json::array();
    for (std::size_t k : picks) {
      const PlaneCut a = plane_cut(real, p, k), b = plane_cut(synthetic, p, k);
      PlaneCut d = a;
      for (std::size_t i = 0; i < d.slice.size(); ++i) d.slice.pixels[i] = std::fabs(b.slice.pixels[i] - a.slice.pixels[i]);
      const std::string name = std::string("images/") + plane_name(p) + "_" + std::to_string(k) + ".png";
      write_montage_png({{square_pixels(a), low, low + range, Colormap::kGrey},
                         {square_pixels(b), low, low + range, Colormap::kGrey},
                         {square_pixels(d), 0, difference_scale, Colormap::kHot}},
                        (std::filesystem::path(images_dir) / std::filesystem::path(name).filename()).string());
      cuts.push_back({{"index", k}, {"image", name}});
    }
    out[plane_name(p)] = {{"index_axis", kIndexLetter[axis]}, {"cuts", cuts}};
  }
  return out;
}

ViewerVolumes make_viewer_volumes(const io::Volume& real, const io::Volume& synthetic, double low, double range,
                                  double difference_scale, std::size_t max_voxels) {
  const io::Geometry& g = real.geometry;
  ViewerVolumes v;
  v.axes = oriented_axes(g);
  v.low = low;
  v.range = range > 0 ? range : 1;
  v.difference_scale = difference_scale;
  const double cut = low + 0.05 * v.range;
  Box box = box_of(g, [&](std::size_t n) { return real.voxels[n] > cut || synthetic.voxels[n] > cut; });
  if (box.empty) box = box_of(g, [](std::size_t) { return true; });
  // The box on the canonical axes, 2 voxels wider on each side.
  std::array<std::size_t, 3> extent{};
  for (std::size_t a = 0; a < 3; ++a) {
    const auto ia = static_cast<std::size_t>(v.axes.index_axis[a]);
    const std::size_t n = g.size[ia];
    std::size_t lo = box.lo[ia] >= 2 ? box.lo[ia] - 2 : 0, hi = std::min(n - 1, box.hi[ia] + 2);
    if (v.axes.flipped[a]) std::tie(lo, hi) = std::make_pair(n - 1 - hi, n - 1 - lo);
    v.full_size[a] = n;
    v.crop_begin[a] = lo;
    extent[a] = hi - lo + 1;
  }
  while ((extent[0] + v.factor - 1) / v.factor * ((extent[1] + v.factor - 1) / v.factor) *
             ((extent[2] + v.factor - 1) / v.factor) > max_voxels)
    ++v.factor;
  const std::size_t f = v.factor;
  for (std::size_t a = 0; a < 3; ++a) {
    v.size[a] = (extent[a] + f - 1) / f;
    v.spacing[a] = g.spacing[static_cast<std::size_t>(v.axes.index_axis[a])] * static_cast<double>(f);
  }
  // Real-grid voxel index of canonical voxel u (before downsampling) along canonical axis a.
  auto original = [&](std::size_t a, std::size_t u) { return v.axes.flipped[a] ? v.full_size[a] - 1 - u : u; };
  auto quantise = [&](double x) {
    if (!std::isfinite(x)) return std::uint8_t{0};
    return static_cast<std::uint8_t>(std::clamp(std::lround((x - low) / v.range * 255.0), 0L, 255L));
  };
  const std::size_t total = v.size[0] * v.size[1] * v.size[2];
  v.real.resize(total);
  v.synthetic.resize(total);
  std::size_t out = 0;
  for (std::size_t z = 0; z < v.size[2]; ++z)
    for (std::size_t y = 0; y < v.size[1]; ++y)
      for (std::size_t x = 0; x < v.size[0]; ++x, ++out) {
        // Mean over the block of f^3 voxels (fewer at the box's far edges).
        double sr = 0, ss = 0;
        std::size_t count = 0;
        const std::array<std::size_t, 3> c{x, y, z};
        std::array<std::size_t, 3> from{}, to{};
        for (std::size_t a = 0; a < 3; ++a) {
          from[a] = v.crop_begin[a] + c[a] * f;
          to[a] = std::min(v.crop_begin[a] + extent[a], from[a] + f);
        }
        std::array<std::size_t, 3> u{}, idx{};
        for (u[2] = from[2]; u[2] < to[2]; ++u[2])
          for (u[1] = from[1]; u[1] < to[1]; ++u[1])
            for (u[0] = from[0]; u[0] < to[0]; ++u[0]) {
              for (std::size_t a = 0; a < 3; ++a) idx[static_cast<std::size_t>(v.axes.index_axis[a])] = original(a, u[a]);
              const std::size_t n = real.index(idx[0], idx[1], idx[2]);
              sr += real.voxels[n];
              ss += synthetic.voxels[n];
              ++count;
            }
        v.real[out] = quantise(sr / static_cast<double>(count));
        v.synthetic[out] = quantise(ss / static_cast<double>(count));
      }
  return v;
}

json viewer_json(const ViewerVolumes& v) {
  return {{"embedded", "real and synthetic voxels only, reoriented to L, P, S, cropped, 8 bits, zlib and base64"},
          {"size_lps", v.size},
          {"spacing_mm_lps", v.spacing},
          {"crop_begin_lps", v.crop_begin},
          {"downsampling_factor", v.factor},
          {"encoding", "uint8: 0 is data_range.low, 255 is low + L, clipped"},
          {"crop_rule", "voxels above low + 0.05 x L in either volume, plus 2 voxels"}};
}

const char* three_planes_css() { return kCss; }

std::string three_planes_html(const json& report, const ViewerVolumes* viewer) {
  std::ostringstream o;
  const auto& dr = report["data_range"];
  const double low = dr["low"].get<double>(), range = dr["value"].get<double>();
  const json planes = report["images"].value("planes", json::object());
  if (planes.empty() && !viewer) return "";  // a report from before the planes
  o << "<h2>Three planes</h2><p class=\"muted small\">Axial, sagittal and coronal cuts through 30%, 50% and 70% of the "
    << (report["mask"].is_null() ? "anatomy" : "mask") << ": real | synthetic | |synthetic − real|, same scales as above "
    << "(grey " << number(low, 4) << " … " << number(low + range, 4) << ", hot 0 … "
    << number(report["images"]["difference_scale"].get<double>(), 4)
    << "). Axial: anterior at the top, patient's left on the right; sagittal: superior at the top, anterior on the left; "
    << "coronal: superior at the top, patient's left on the right.</p>";
  for (Plane p : kPlanes) {
    if (!planes.contains(plane_name(p))) continue;
    const auto& pl = planes[plane_name(p)];
    o << "<div class=\"planes\">";
    for (const auto& c : pl["cuts"]) {
      const std::string label = std::string(plane_name(p)) + " " + pl["index_axis"].get<std::string>() + "=" +
                                std::to_string(c["index"].get<std::size_t>());
      o << "<figure><img src=\"" << c["image"].get<std::string>() << "\" alt=\"" << label
        << ": real, synthetic, difference\" height=\"170\"><figcaption>" << label << "</figcaption></figure>";
    }
    o << "</div>\n";
  }
  if (!viewer) return o.str();

  const ViewerVolumes& v = *viewer;
  o << "<h3>Viewer</h3><p class=\"muted small\">Scroll a plane with its slider or the mouse wheel over it; drag "
    << "across real or synthetic for window (left–right) and level (up–down), across the difference for its scale; "
    << "click to move the crosshair, which sets the other two planes. Embedded: both volumes' voxels only, "
    << v.size[0] << "×" << v.size[1] << "×" << v.size[2] << " at 8 bits"
    << (v.factor > 1 ? ", averaged over " + std::to_string(v.factor) + "³ blocks" : std::string(", every voxel"))
    << ", the box around the anatomy; values are quantised to L/255.</p>";
  o << "<div id=\"msv\" data-status=\"loading\"><div class=\"msv-controls\">"
    << "<label>window <input type=\"range\" id=\"msv-window\"> <output id=\"msv-window-v\"></output></label>"
    << "<label>level <input type=\"range\" id=\"msv-level\"> <output id=\"msv-level-v\"></output></label>"
    << "<label>difference scale <input type=\"range\" id=\"msv-dmax\"> <output id=\"msv-dmax-v\"></output></label>"
    << "<label><input type=\"checkbox\" id=\"msv-cross\" checked> crosshair</label>"
    << "<button type=\"button\" id=\"msv-reset\">reset</button></div>"
    << "<p id=\"msv-msg\" class=\"muted small\">Loading the volumes (needs JavaScript)…</p>";
  for (Plane p : kPlanes) {
    o << "<div class=\"msv-plane\" data-plane=\"" << plane_name(p) << "\"><div class=\"msv-head\"><b>" << plane_name(p)
      << "</b><input type=\"range\" class=\"msv-slice\" aria-label=\"" << plane_name(p)
      << " slice\"><span class=\"msv-pos\"></span></div><div class=\"msv-row\">";
    for (const char* kind : {"real", "synthetic", "difference"})
      o << "<div class=\"msv-cell\"><canvas data-kind=\"" << kind << "\" width=\"1\" height=\"1\"></canvas>" << kind
        << "</div>";
    o << "</div></div>";
  }
  o << "<p id=\"msv-readout\" class=\"small\"></p></div>\n";
  json cfg = {{"size", v.size},
              {"spacing", v.spacing},
              {"crop_begin", v.crop_begin},
              {"full_size", v.full_size},
              {"factor", v.factor},
              {"index_axis", v.axes.index_axis},
              {"flipped", v.axes.flipped},
              {"low", v.low},
              {"range", v.range},
              {"difference_scale", v.difference_scale}};
  // Data blocks: browsers do not run a script of an unknown type, and base64 holds no '<'.
  o << "<script type=\"application/json\" id=\"msv-config\">" << cfg.dump() << "</script>\n";
  o << "<script type=\"text/plain\" id=\"msv-real\">" << base64(deflate(v.real)) << "</script>\n";
  o << "<script type=\"text/plain\" id=\"msv-synthetic\">" << base64(deflate(v.synthetic)) << "</script>\n";
  o << "<script>" << kViewerScript << "</script>\n";
  return o.str();
}

}  // namespace medsynth::validation
