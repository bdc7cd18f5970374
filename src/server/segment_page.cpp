// The web page of `edgerun serve` with a SAM model (served at /). Plain HTML and JavaScript, no
// external resources: it must work offline on the machine running the model.
#include "server/segment_server.h"

namespace edgerun::server {

const char* const kSegmentPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>edgerun · segment</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #f6f6f4; color: #222; }
  #bar { display: flex; gap: 1rem; align-items: center; margin-bottom: .8rem; flex-wrap: wrap; }
  #view { max-width: 100%; border: 1px solid #bbb; cursor: crosshair; background: #fff; }
  #status { color: #555; }
  kbd { background: #eee; border: 1px solid #ccc; border-radius: 3px; padding: 0 .3em; }
</style>
</head>
<body data-state="empty">
<div id="bar">
  <input type="file" id="file" accept="image/*">
  <label><input type="checkbox" id="multimask"> three candidates (keep the best)</label>
  <button id="clear">Clear prompts</button>
  <span id="status">Load an image, then click the object (<kbd>shift</kbd>-click or right-click: background; drag: box).</span>
</div>
<canvas id="view" width="640" height="360"></canvas>
<script>
const view = document.getElementById('view'), ctx = view.getContext('2d');
const statusLine = document.getElementById('status');
let image = null, dataUrl = null, imageId = null, points = [], labels = [], box = null, mask = null, dragFrom = null;

function setState(state, text) { document.body.dataset.state = state; if (text) statusLine.textContent = text; }

function pixelAt(ev) {
  const r = view.getBoundingClientRect();
  return [(ev.clientX - r.left) * view.width / r.width, (ev.clientY - r.top) * view.height / r.height];
}

function draw() {
  if (!image) return;
  ctx.drawImage(image, 0, 0);
  if (mask) {
    const over = ctx.getImageData(0, 0, view.width, view.height);
    for (let i = 0; i < mask.length; ++i) {
      if (!mask[i]) continue;
      over.data[4 * i] = (over.data[4 * i] + 30) >> 1;
      over.data[4 * i + 1] = (over.data[4 * i + 1] + 144) >> 1;
      over.data[4 * i + 2] = (over.data[4 * i + 2] + 255) >> 1;
    }
    ctx.putImageData(over, 0, 0);
  }
  const r = Math.max(4, Math.round(Math.min(view.width, view.height) / 100));
  points.forEach((p, i) => {
    ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI);
    ctx.fillStyle = labels[i] ? '#00dc00' : '#e60000'; ctx.fill();
    ctx.lineWidth = 2; ctx.strokeStyle = '#fff'; ctx.stroke();
  });
  if (box) { ctx.lineWidth = 3; ctx.strokeStyle = '#ffdc00'; ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]); }
}

async function decodeMask(png) {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data, m = new Uint8Array(c.width * c.height);
  for (let i = 0; i < m.length; ++i) m[i] = d[4 * i] > 127 ? 1 : 0;
  return m;
}

async function segment() {
  if (!image || (!points.length && !box)) return;
  setState('busy', 'Segmenting…');
  const body = { points, labels, box, multimask: document.getElementById('multimask').checked };
  const send = (withImage) => fetch('/v1/segment', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(withImage ? { ...body, image: dataUrl } : { ...body, image_id: imageId }) });
  let res = await send(!imageId);
  if (res.status === 404 && imageId) res = await send(true);  // the server forgot the image
  const reply = await res.json();
  if (!res.ok) { setState('error', 'Error: ' + reply.error.message); return; }
  imageId = reply.image_id;
  const best = reply.masks[reply.best];
  mask = await decodeMask(best.png);
  draw();
  document.body.dataset.maskArea = String(best.area);
  setState('done', `Mask: ${best.area} pixels, score ${best.score.toFixed(3)} (encode ${reply.timings.encode_ms.toFixed(0)} ms, ` +
                   `decode ${reply.timings.decode_ms.toFixed(0)} ms${reply.cached ? ', image cached' : ''})`);
}

document.getElementById('file').addEventListener('change', (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    dataUrl = reader.result; imageId = null; points = []; labels = []; box = null; mask = null;
    image = new Image();
    image.onload = () => { view.width = image.width; view.height = image.height; draw(); setState('ready', 'Click the object to segment.'); };
    image.onerror = () => setState('error', 'Error: the browser cannot read that image.');
    image.src = dataUrl;
  };
  reader.readAsDataURL(file);
});
view.addEventListener('contextmenu', (ev) => ev.preventDefault());
view.addEventListener('mousedown', (ev) => { if (image) dragFrom = pixelAt(ev); });
view.addEventListener('mouseup', (ev) => {
  if (!image || !dragFrom) return;
  const to = pixelAt(ev), from = dragFrom; dragFrom = null;
  if (Math.abs(to[0] - from[0]) > 5 && Math.abs(to[1] - from[1]) > 5) {
    box = [Math.min(from[0], to[0]), Math.min(from[1], to[1]), Math.max(from[0], to[0]), Math.max(from[1], to[1])];
  } else {
    points.push(to); labels.push(ev.shiftKey || ev.button === 2 ? 0 : 1);
  }
  draw(); segment();
});
document.getElementById('clear').addEventListener('click', () => { points = []; labels = []; box = null; mask = null; draw(); setState(image ? 'ready' : 'empty'); });
</script>
</body>
</html>
)HTML";

}  // namespace edgerun::server
