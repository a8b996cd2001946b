// The selfie3d page: a photo (file, drop or webcam) goes to POST /api/busts; the answer's STL is
// shown in a three.js view in clay, the 68 landmarks are drawn over the photo, and the four
// files are offered for download. While the server has the photo, the page asks
// /api/queue/{ticket} for its place in the queue and the expected wait, and shows them. The
// answer comes once the STL is written; the other formats' links show "being made" until
// GET /api/busts/{id}?wait_s= says they are ready. Every failure ends as one readable line in #message.
import * as THREE from './vendor/three.module.min.js';
import { OrbitControls } from './vendor/OrbitControls.js';
import { STLLoader } from './vendor/STLLoader.js';

const $ = (id) => document.getElementById(id);
const MB = 1024 * 1024;
const CLAY = 0xc9b7a3;
const FIELD_OF_VIEW_DEG = 30;
const FRAME_MARGIN = 1.1;            // the bust's box fills 1/1.1 of the view's height or width
const MAX_BUSY_RETRIES = 3;          // automatic retries after a 503, each after its Retry-After
const QUEUE_POLL_MS = 1000;          // how often a waiting upload asks for its place in the queue
const LATER_WAIT_S = 20;             // each ask for the later formats waits this long on the server
const LATER_TRIES = 6;               // asks before the page gives up on them (their links still work)
const LANDMARK_CHAINS = [            // iBUG-68 outlines: [first, last, closed]
  [0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
  [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true],
];
const PICK_MARGIN = 0.25;            // a click this many face widths outside a face's box still picks it
const FORMATS = [['stl', 'STL', 'for slicers'], ['3mf', '3MF', 'for slicers, in mm'],
                 ['glb', 'GLB', 'textured, for viewers'], ['obj', 'OBJ', 'textured, with .mtl']];

let limits = { max_upload_bytes: 20 * MB, max_label_chars: 32 };
let photo = null;          // the File or Blob to upload
let photoUrl = null;       // its object URL, shown in the preview and under the landmarks
let cameraStream = null;
let viewer = null;
let lastReport = null;
let shownBust = null;      // the id of the bust on show
let sending = [];          // [File, object URL] of each upload under way
let shownPhoto = null;     // [File, object URL] of the result on show (a pick re-sends it)
let latestUpload = 0;      // the number of the newest upload: an older one's answer is not shown

function showMessage(text) {
  const box = $('message');
  box.textContent = text;
  box.hidden = !text;
}

function setProgress(text, percent) {
  $('progress').hidden = text === null;
  $('progress-text').textContent = text || '';
  if (percent === undefined) $('bar').removeAttribute('value');
  else $('bar').value = percent;
}

function formatBytes(bytes) {
  return bytes >= MB ? `${(bytes / MB).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

// ---- choosing a photo ---------------------------------------------------------------------

function usePhoto(file) {
  showMessage('');
  if (!file) return;
  const isVideo = (file.type || '').startsWith('video/') || /\.(mp4|mov|m4v|webm|avi)$/i.test(file.name || '');
  if (file.type && !file.type.startsWith('image/') && !isVideo) {
    showMessage(`"${file.name}" is not an image: choose a JPEG, PNG, HEIC, AVIF or WebP photo, or a video.`);
    return;
  }
  if (file.size > limits.max_upload_bytes) {
    showMessage(`This ${isVideo ? 'video' : 'photo'} is ${formatBytes(file.size)}; the limit is ` +
                `${formatBytes(limits.max_upload_bytes)}. ` + (isVideo
                  ? 'Use a shorter video (5 to 10 seconds of a slow head turn are plenty).'
                  : 'Use a smaller photo (a few megapixels are plenty).'));
    return;
  }
  photo = file;
  // The result on show (or on its way) keeps its photo: a face picked on it re-sends it.
  if (photoUrl && !inUse(photoUrl)) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  const preview = $('preview');
  const named = `${file.name || 'webcam photo'} · ${formatBytes(file.size)}`;
  if (isVideo) {
    // A phone's head turn: the server makes the bust from its frames, the hair scanned from the
    // sides the turn shows, and sends back the frame it faced the camera in.
    preview.onerror = null;
    preview.hidden = true;
    preview.removeAttribute('src');
    $('drop-text').textContent = `${named} — a video: the bust comes from its frames, and a slow turn of ` +
      'the head left and right shapes the hair from every side. Drop or click to change';
    $('make').disabled = false;
    return;
  }
  // Chrome, Edge and Firefox do not decode HEIC (nor TIFF): a line instead of a broken picture.
  // The server decodes it, and sends a JPEG copy to show under the fit.
  const serverShows = /\.(heic|heif|tiff?)$/i.test(file.name || '') || /heic|heif|tiff/i.test(file.type || '');
  preview.onerror = () => {
    preview.hidden = true;
    $('drop-text').textContent = `${named} — ` + (serverShows
      ? 'this browser cannot show it; the bust is made from it all the same. '
      : 'this browser cannot show it: it may not be an image. ') + 'Drop or click to change';
  };
  preview.src = photoUrl;
  preview.hidden = false;
  $('drop-text').textContent = `${named} — drop or click to change`;
  $('make').disabled = false;
}

function setUpDrop() {
  const drop = $('drop');
  $('file').addEventListener('change', (event) => usePhoto(event.target.files[0]));
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add('over'); });
  }
  for (const name of ['dragleave', 'drop']) {
    drop.addEventListener(name, () => drop.classList.remove('over'));
  }
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (!file) showMessage('Nothing to use was dropped: drop a photo file.');
    else usePhoto(file);
  });
}

// ---- webcam -------------------------------------------------------------------------------

const CAMERA_ERRORS = {
  NotAllowedError: 'Camera access was refused. Allow it in the browser, or choose a photo instead.',
  NotFoundError: 'No camera was found. Plug one in, or choose a photo instead.',
  NotReadableError: 'The camera is in use by another program. Close it there, or choose a photo instead.',
  OverconstrainedError: 'The camera cannot give a usable picture. Choose a photo instead.',
};

async function startCamera() {
  showMessage('');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage('This browser gives no camera to this page (cameras need https:// or localhost). Choose a photo instead.');
    return;
  }
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia(
      { video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false });
  } catch (error) {
    showMessage(CAMERA_ERRORS[error.name] || `The camera could not be started (${error.name || error}). Choose a photo instead.`);
    return;
  }
  const video = $('video');
  video.srcObject = cameraStream;
  video.hidden = false;
  $('camera-shoot').hidden = false;
  $('camera-stop').hidden = false;
  $('camera-start').hidden = true;
}

function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
  cameraStream = null;
  $('video').hidden = true;
  $('camera-shoot').hidden = true;
  $('camera-stop').hidden = true;
  $('camera-start').hidden = false;
}

function takePhoto() {
  const video = $('video');
  if (!video.videoWidth) {
    showMessage('The camera has not shown a picture yet; wait a moment and try again.');
    return;
  }
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);  // not mirrored: the bust is of the real face
  canvas.toBlob((blob) => {
    if (!blob) { showMessage('The webcam picture could not be captured; try again.'); return; }
    usePhoto(new File([blob], 'webcam.jpg', { type: 'image/jpeg' }));
    stopCamera();
  }, 'image/jpeg', 0.92);
}

// ---- making the bust ----------------------------------------------------------------------

// A random name for one upload: GET /api/queue/{ticket} tells its place in the queue.
function newTicket() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The line shown while the server has the photo: its place in the queue, then the bust's making.
function queueText(place, seconds) {
  const wait = place && place.expected_wait_s > 0 ? `, about ${Math.max(1, Math.round(place.expected_wait_s))} s to go` : '';
  if (place && place.state === 'waiting') {
    const ahead = place.position - 1;
    const where = ahead === 0 ? 'you are next' : `${ahead} ${ahead === 1 ? 'upload' : 'uploads'} ahead of you`;
    return `Waiting for a free worker: ${where}${wait}… ${seconds} s`;
  }
  return `Finding the face and building the bust${wait}… ${seconds} s`;
}

// Whether an object URL still shows a photo: the one on show, or one being sent.
function inUse(url) {
  return [shownPhoto, ...sending].some((pair) => pair && pair[1] === url);
}

// Send ``form`` (made from ``source``, [File, object URL]); only the newest upload's answer is shown.
function upload(form, source, attempt = 0) {
  const number = ++latestUpload;
  sending.push(source);
  const started = performance.now();
  const ticket = newTicket();
  let ticker = null;
  let poller = null;
  let place = null;
  const request = new XMLHttpRequest();
  request.open('POST', `/api/busts?ticket=${ticket}`);
  request.responseType = 'json';
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) setProgress(`Uploading… ${Math.round(100 * event.loaded / event.total)} %`, 100 * event.loaded / event.total);
  };
  request.upload.onload = () => {
    const tick = () => {
      if (number !== latestUpload) return;  // a newer upload shows its own progress
      setProgress(queueText(place, Math.round((performance.now() - started) / 1000)));
      $('progress').dataset.queue = place ? place.state : '';
      $('progress').dataset.position = place && place.position !== null ? String(place.position) : '';
    };
    const poll = async () => {
      try {
        const response = await fetch(`/api/queue/${ticket}`);
        if (response.ok && ticker !== null) { place = await response.json(); tick(); }
      } catch (error) { /* the answer to the upload says what happened */ }
    };
    tick();
    ticker = setInterval(tick, 500);
    poll();
    poller = setInterval(poll, QUEUE_POLL_MS);
  };
  // True when this upload's answer is still the one to show.
  const finish = () => {
    clearInterval(ticker);
    clearInterval(poller);
    ticker = null;
    sending.splice(sending.indexOf(source), 1);
    if (number !== latestUpload) return false;
    delete $('progress').dataset.queue;
    delete $('progress').dataset.position;
    $('make').disabled = !photo;
    return true;
  };
  request.onerror = () => {
    if (!finish()) return;
    setProgress(null);
    showMessage('The server could not be reached. Is `selfie3d serve` still running?');
  };
  request.onload = () => {
    if (!finish()) return;
    const body = request.response || {};
    if (request.status === 201) {
      setProgress('Loading the 3D view…', 100);
      showResult(body, source);
      return;
    }
    if (request.status === 503 && body.error === 'busy' && attempt < MAX_BUSY_RETRIES) {
      const wait = Math.max(1, parseInt(request.getResponseHeader('Retry-After') || '5', 10));
      setProgress(`The server is busy; trying again in ${wait} s…`);
      $('make').disabled = true;
      setTimeout(() => { if (number === latestUpload) upload(form, source, attempt + 1); }, wait * 1000);
      return;
    }
    setProgress(null);
    showMessage(body.message ? errorText(request.status, body) : `The server answered ${request.status} ${request.statusText}.`);
  };
  $('make').disabled = true;
  showMessage('');
  setProgress('Uploading…', 0);
  request.send(form);
}

function errorText(status, body) {
  const lead = { 400: 'This file cannot be used', 408: 'The upload took too long', 413: 'Too large',
                 422: photo && (photo.type || '').startsWith('video/') ? "This video didn't work" : "This photo didn't work", 503: body.error === 'stopping' ? 'The server is stopping' : 'The server is busy',
                 500: 'Something went wrong on the server' }[status];
  const text = body.message.charAt(0).toUpperCase() + body.message.slice(1);
  return lead ? `${lead}: ${text}.`.replace('..', '.') : text;
}

// The upload of ``source`` with the form's options (and ``face``, a photo pixel [x, y] of the face
// to make, for a group photo), or null after saying what is wrong.
function bustForm(source, face = null) {
  if (!source) { showMessage('Choose a photo or take one with the webcam first.'); return null; }
  const height = Number($('height').value);
  if (!(height >= 20 && height <= 500)) { showMessage('The height must be between 20 and 500 mm.'); return null; }
  const label = $('label').value.trim();
  if (label && $('style').value === 'mask') { showMessage('A mask has no base to engrave: clear the label or pick bust or relief.'); return null; }
  const form = new FormData();
  form.append('photo', source, source.name || 'photo.jpg');
  form.append('style', $('style').value);
  form.append('height_mm', String(height));
  if (label) form.append('label', label);
  if (face) form.append('face', `${face[0].toFixed(1)},${face[1].toFixed(1)}`);
  return form;
}

function submit(event) {
  event.preventDefault();
  const form = bustForm(photo);
  if (form) upload(form, [photo, photoUrl]);
}

// A group photo: a click on or near another face's box makes that face's bust, from the photo on
// show. The box is chosen as the server chooses (stages/photo.face_at: the nearest, then the
// smaller), and the click, brought inside it, is sent.
function pickFace(event) {
  const others = (lastReport && lastReport.other_faces) || [];
  const image = $('photo');
  if (!others.length || !shownPhoto || !image.clientWidth || sending.length) return;
  const [width, height] = lastReport.image_size;
  const x = event.offsetX * width / image.clientWidth;
  const y = event.offsetY * height / image.clientHeight;
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const near = others.map(([x0, y0, x1, y1]) => ({
    box: [x0, y0, x1, y1],
    gap: Math.hypot(x - clamp(x, x0, x1), y - clamp(y, y0, y1)),
    area: (x1 - x0) * (y1 - y0),
  })).filter(({ box, gap }) => gap <= PICK_MARGIN * (box[2] - box[0]))
    .sort((a, b) => a.gap - b.gap || a.area - b.area);
  if (!near.length) return;
  const [x0, y0, x1, y1] = near[0].box;
  const form = bustForm(shownPhoto[0], [clamp(x, x0, x1), clamp(y, y0, y1)]);
  if (form) upload(form, shownPhoto);
}

// ---- the result ---------------------------------------------------------------------------

function showResult(body, source) {
  lastReport = body.report;
  shownBust = body.id || null;
  const before = shownPhoto;
  shownPhoto = source;
  if (before && before[1] !== photoUrl && !inUse(before[1])) URL.revokeObjectURL(before[1]);
  $('result').hidden = false;
  $('result').dataset.bust = shownBust || '';
  const photoImage = $('photo');
  photoImage.onload = () => drawLandmarks();
  // A photo this browser may not show (HEIC, TIFF) comes back as a JPEG copy (maybe shrunk: the fit
  // is drawn from the report's image_size, scaled to what is shown).
  photoImage.src = (body.extras && body.extras.photo) || shownPhoto[1];
  const others = (lastReport.other_faces || []).length;
  $('photo-overlay').dataset.pick = others ? 'yes' : 'no';
  $('photo-caption').textContent = others
    ? `The bust's outline and its 68 face landmarks. ${others} more ${others === 1 ? 'face' : 'faces'} in this photo: click one to make its bust.`
    : "The bust's outline and its 68 face landmarks on your photo.";

  const downloads = $('downloads');
  downloads.replaceChildren();
  for (const [key, name, hint] of FORMATS) {
    const link = document.createElement('a');
    link.href = body.files[key];
    link.download = '';
    link.id = `download-${key}`;
    link.dataset.format = key;
    link.innerHTML = `${name}<small>${hint}</small>`;
    downloads.append(link);
  }
  for (const [key, url] of Object.entries(body.extras || {})) {
    if (key === 'photo') continue;  // the photo's copy, shown above; not a file of the bust
    const link = document.createElement('a');
    link.href = url;
    link.download = '';
    link.className = 'extra';
    link.id = `download-${key}`;
    link.dataset.format = 'obj';  // the OBJ's material and texture come with it
    link.textContent = key === 'mtl' ? 'OBJ material' : 'OBJ texture';
    downloads.append(link);
  }
  showFormats(body);
  if (!body.complete && body.id) awaitLaterFormats(body.id);
  showFacts(body.report);
  if (!viewer) viewer = createViewer($('viewer'));
  if (viewer) viewer.show(body.files.stl, body.report.style).then(() => setProgress(null), (error) => {
    setProgress(null);
    showMessage(`The 3D view could not show the bust (${error.message || error}); the downloads still work.`);
  });
  else setProgress(null);
}

// Each link's state: ready, pending (being written: the link still works, the server waits for
// the file) or failed (its reason as the tooltip).
function showFormats(body) {
  const formats = body.formats || {};
  for (const link of $('downloads').querySelectorAll('a')) {
    const state = formats[link.dataset.format] || 'ready';
    link.dataset.state = state;
    link.title = state === 'pending' ? 'being made — a moment' :
      state === 'failed' ? `could not be made: ${(body.errors || {})[link.dataset.format] || ''}` : '';
  }
  $('downloads').dataset.complete = String(body.complete !== false);
}

async function awaitLaterFormats(id) {
  for (let attempt = 0; attempt < LATER_TRIES; attempt++) {
    let body = null;
    try {
      const response = await fetch(`/api/busts/${id}?wait_s=${LATER_WAIT_S}`);
      if (response.status === 404) return;  // deleted or expired
      if (response.ok) body = await response.json();
    } catch (error) { /* the server is busy or gone: ask again */ }
    if (shownBust !== id) return;  // a newer bust is shown
    if (body) {
      showFormats(body);
      if (body.complete) return;
    } else {
      await new Promise((done) => setTimeout(done, 1000));
    }
  }
}

function showFacts(report) {
  const checks = report.print_checks || {};
  const size = (checks.size_mm || []).map((v) => v.toFixed(0)).join(' × ');
  const rows = [
    ['Printed size', size ? `${size} mm` : '—'],
    // scale_source: "iris and face proportions", or "face proportions" where the iris is too small to measure.
    ['Pupil distance', report.pd_mm ? `${report.pd_mm.toFixed(1)} mm (scale from the ${report.scale_source || 'face proportions'})` : '—'],
    ['Face width', report.face_width_mm ? `${report.face_width_mm.toFixed(0)} mm` : '—'],
    ['Solid', checks.watertight ? `watertight, ${(checks.triangles || 0).toLocaleString()} triangles, ${((checks.volume_mm3 || 0) / 1000).toFixed(0)} cm³` : 'not checked'],
  ];
  // What the command line prints as notes and warnings: a bust stood level where the camera was held
  // askew, how sure the sizes are, what the bust could not take from the photo.
  for (const note of [report.camera_roll_note, report.scale_warning, ...(report.bust_warnings || [])]) {
    if (note) rows.push(['Note', note]);
  }
  const list = $('facts');
  list.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }
}

function drawLandmarks() {
  const image = $('photo');
  const canvas = $('landmarks');
  if (!lastReport || !image.complete || !image.clientWidth) return;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(image.clientWidth * ratio);
  canvas.height = Math.round(image.clientHeight * ratio);
  canvas.style.width = `${image.clientWidth}px`;
  canvas.style.height = `${image.clientHeight}px`;
  const context = canvas.getContext('2d');
  // Landmarks are in pixels of the image the server decoded (EXIF-rotated like the <img>).
  const [width, height] = lastReport.image_size;
  const sx = canvas.width / width;
  const sy = canvas.height / height;
  const points = lastReport.landmarks68.map(([x, y]) => [x * sx, y * sy]);
  // The bust as the photo's camera sees it: its outline over the photo, so you see the fit.
  if (lastReport.bust_outline && lastReport.bust_outline.length > 2) {
    context.beginPath();
    lastReport.bust_outline.forEach(([x, y], i) => context[i === 0 ? 'moveTo' : 'lineTo'](x * sx, y * sy));
    context.closePath();
    context.fillStyle = 'rgba(80, 170, 240, 0.25)';
    context.fill();
    context.lineWidth = 2 * ratio;
    context.strokeStyle = 'rgba(80, 190, 255, 0.95)';
    context.stroke();
  }
  // The other faces of a group photo, to pick: a dashed box round each.
  context.setLineDash([6 * ratio, 4 * ratio]);
  context.lineWidth = 2 * ratio;
  context.strokeStyle = 'rgba(255, 200, 60, 0.95)';
  for (const [x0, y0, x1, y1] of lastReport.other_faces || []) context.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
  context.setLineDash([]);
  context.lineWidth = 1.5 * ratio;
  context.strokeStyle = 'rgba(120, 230, 160, 0.85)';
  for (const [first, last, closed] of LANDMARK_CHAINS) {
    context.beginPath();
    for (let i = first; i <= last; i++) context[i === first ? 'moveTo' : 'lineTo'](...points[i]);
    if (closed) context.closePath();
    context.stroke();
  }
  context.fillStyle = 'rgba(255, 255, 255, 0.95)';
  for (const [x, y] of points) {
    context.beginPath();
    context.arc(x, y, 2 * ratio, 0, 2 * Math.PI);
    context.fill();
  }
}

// ---- the 3D view --------------------------------------------------------------------------

function createViewer(container) {
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  } catch (error) {
    container.dataset.state = 'no-webgl';
    container.innerHTML = '<div class="note">This browser has no WebGL, so the bust cannot be shown here. The downloads below still work.</div>';
    return null;
  }
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  container.append(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xece8e1);
  const camera = new THREE.PerspectiveCamera(FIELD_OF_VIEW_DEG, 4 / 3, 1, 1000);
  scene.add(camera);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x7d705f, 1.6));
  const key = new THREE.DirectionalLight(0xffffff, 2.2);
  key.position.set(0.6, 0.8, 1.0);   // over the viewer's right shoulder, moving with the camera
  camera.add(key);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = false;
  const render = () => renderer.render(scene, camera);
  controls.addEventListener('change', render);
  const resize = () => {
    const { clientWidth: width, clientHeight: height } = container;
    if (!width || !height) return;
    renderer.setSize(width, height, false);
    camera.aspect = width / height;
    camera.updateProjectionMatrix();
    render();
  };
  new ResizeObserver(resize).observe(container);
  let current = null;

  async function show(url, style) {
    container.dataset.state = 'loading';
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the STL could not be fetched (${response.status})`);
    const geometry = new STLLoader().parse(await response.arrayBuffer());
    if (current) { scene.remove(current); current.geometry.dispose(); }
    current = new THREE.Mesh(geometry, new THREE.MeshStandardMaterial({ color: CLAY, roughness: 0.85, metalness: 0 }));
    // Busts and masks stand on Z = 0 with Z up (print frame); three.js is Y up. A relief
    // plaque already faces +Z with its height along Y.
    if (style !== 'relief') current.rotation.x = -Math.PI / 2;
    scene.add(current);
    current.updateMatrixWorld(true);
    const box = new THREE.Box3().setFromObject(current);
    current.position.sub(box.getCenter(new THREE.Vector3()));
    resize();  // the aspect ratio the framing needs
    // Back off until the box's height and width fit the view, plus half its depth in front.
    const size = box.getSize(new THREE.Vector3());
    const tanHalf = Math.tan(THREE.MathUtils.degToRad(FIELD_OF_VIEW_DEG / 2));
    const distance = FRAME_MARGIN * Math.max(size.y / 2 / tanHalf, size.x / 2 / (tanHalf * camera.aspect)) + size.z / 2;
    camera.position.copy(new THREE.Vector3(0.35, 0.12, 1).normalize().multiplyScalar(distance));
    camera.near = distance / 100;
    camera.far = distance * 10;
    camera.updateProjectionMatrix();
    controls.target.set(0, 0, 0);
    controls.update();
    resize();
    render();
    container.dataset.triangles = String(geometry.attributes.position.count / 3);
    container.dataset.state = 'ready';
  }
  return { show };
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  setUpDrop();
  $('form').addEventListener('submit', submit);
  $('camera-start').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', stopCamera);
  $('camera-shoot').addEventListener('click', takePhoto);
  $('style').addEventListener('change', () => { $('label').disabled = $('style').value === 'mask'; });
  window.addEventListener('resize', drawLandmarks);
  $('photo').addEventListener('click', pickFace);
  try {
    const response = await fetch('/api/status');
    if (response.ok) limits = { ...limits, ...(await response.json()) };
  } catch (error) { /* keep the defaults; the server checks again */ }
  $('label').maxLength = limits.max_label_chars;
  document.body.dataset.ready = 'true';
}

start();
