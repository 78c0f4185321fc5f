// The live page: an uploaded photo, or webcam frames one after another, go to POST /v1/classify; every face
// comes back as a box drawn on the canvas with its labels, and as an entry of the list, in Korean and English.
"use strict";

const MASK = ["마스크 착용 / Mask worn", "마스크 잘못 착용 / Mask worn incorrectly", "마스크 미착용 / No mask"];
const GENDER = ["남성 / Male", "여성 / Female"];
// Shorter names for the labels on the photo (the list beside it has the long ones).
const SHORT_MASK = ["착용 / Mask", "잘못 착용 / Incorrect", "미착용 / No mask"];
const COLORS = ["#1a9850", "#e08000", "#d7301f"];  // by mask status: worn, incorrect, none
const BOX = [840, 620];  // canvas pixels the photo is drawn into, scaled (up or down) to fit
let AGE = ageNames(30, 60);
let SHORT_AGE = shortAgeNames(30, 60);

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
let stream = null;
let live = false;

function ageNames(low, high) {
  return [`${low}세 미만 / Under ${low}`, `${low}–${high - 1}세 / ${low}–${high - 1}`,
          `${high}세 이상 / ${high} and over`];
}

function shortAgeNames(low, high) {
  return [`${low}세 미만 / <${low}`, `${low}–${high - 1}세 / ${low}–${high - 1}`, `${high}세+ / ${high}+`];
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const pct = (p) => `${Math.round(100 * p)}%`;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function loadModel() {
  try {
    const model = await (await fetch("/v1/model")).json();
    AGE = ageNames(...model.age_thresholds);
    SHORT_AGE = shortAgeNames(...model.age_thresholds);
    const f1 = model.metrics.macro_f1 === undefined ? "" : ` · macro F1 ${model.metrics.macro_f1.toFixed(3)}`;
    $("model").textContent = `모델 / Model: ${model.name} (${model.backbone}, ${model.input_size.join("×")} px, ` +
      `crop=${model.crop})${f1}`;
  } catch (error) {
    $("model").textContent = "모델 정보를 불러오지 못했습니다 / Could not load the model info";
  }
}

async function classify(blob) {
  const response = await fetch("/v1/classify", {
    method: "POST", body: blob, headers: {"Content-Type": blob.type || "application/octet-stream"},
  });
  const body = await response.json().catch(() => ({detail: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

// Draw the photo (an ImageBitmap or a canvas of result.width × result.height) with a box and labels per face:
// every box first, then the labels, so no box crosses a label; a label's text is sized by its face.
function draw(source, result) {
  const scale = Math.min(BOX[0] / result.width, BOX[1] / result.height);
  canvas.width = Math.round(result.width * scale);
  canvas.height = Math.round(result.height * scale);
  canvas.hidden = false;
  $("placeholder").hidden = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = Math.max(2, Math.round(canvas.width / 300));
  const boxes = result.faces.map((face) => ({
    x: face.box.x0 * scale, y: face.box.y0 * scale,
    w: (face.box.x1 - face.box.x0) * scale, h: (face.box.y1 - face.box.y0) * scale, color: COLORS[face.mask.code],
  }));
  boxes.forEach((box) => {
    ctx.strokeStyle = box.color;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
  });
  const placed = [];
  result.faces.forEach((face, i) => {
    const lines = [`${i + 1}. ${SHORT_MASK[face.mask.code]}`, `${GENDER[face.gender.code]} · ${SHORT_AGE[face.age.code]}`];
    label(boxes[i], lines, placed);
  });
  canvas.dataset.faces = String(result.faces.length);
}

// A filled label above the box, or below it, or inside its top, whichever first overlaps no label placed before;
// its text is sized by the face and shrunk until it fits the canvas.
function label(box, lines, placed) {
  const pad = 3;
  let size = Math.min(16, Math.max(10, Math.round(box.w / 7)));
  let width;
  do {
    ctx.font = `600 ${size}px system-ui, "Noto Sans KR", "NanumGothic", sans-serif`;
    width = Math.max(...lines.map((line) => ctx.measureText(line).width)) + 2 * pad;
  } while (width > canvas.width && --size >= 8);
  const lineHeight = size + 3;
  const height = lines.length * lineHeight + pad;
  const left = Math.min(Math.max(0, box.x), Math.max(0, canvas.width - width));
  const clamp = (top) => Math.min(Math.max(0, top), canvas.height - height);
  const spots = [box.y - height, box.y + box.h, box.y].map((top) => ({x: left, y: clamp(top), w: width, h: height}));
  const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  const spot = spots.find((s) => !placed.some((p) => overlaps(s, p))) || spots[0];
  placed.push(spot);
  ctx.fillStyle = box.color;
  ctx.fillRect(spot.x, spot.y, width, height);
  ctx.fillStyle = "#fff";
  ctx.textBaseline = "top";
  lines.forEach((line, k) => ctx.fillText(line, spot.x + pad, spot.y + pad + k * lineHeight));
}

function list(result) {
  const items = result.faces.map((face, i) => {
    const item = el("li");
    item.style.setProperty("--swatch", COLORS[face.mask.code]);
    item.dataset.label = String(face.label);
    item.append(el("div", "title", `얼굴 ${i + 1} / Face ${i + 1}`));
    for (const [names, task] of [[MASK, face.mask], [GENDER, face.gender], [AGE, face.age]]) {
      const row = el("div", "row");
      row.append(el("span", "", names[task.code]), el("span", "p", pct(task.probability)));
      item.append(row);
    }
    const whole = face.input === "photo" ? " · 사진 전체로 분류 / classified on the whole photo" : "";
    item.append(el("div", "meta", `class ${face.label} (${face.class_name}) · face ${face.score.toFixed(2)}${whole}`));
    return item;
  });
  $("faces").replaceChildren(...items);
}

function show(source, result) {
  draw(source, result);
  list(result);
  const n = result.faces.length;
  setStatus(n ? `얼굴 ${n}개 / ${n} face${n > 1 ? "s" : ""} · ${Math.round(result.milliseconds)} ms`
              : "얼굴을 찾지 못했습니다 / No face found");
}

async function classifyFile(file) {
  stopCamera();
  setStatus("분류하는 중… / Classifying…");
  try {
    const result = await classify(file);
    show(await createImageBitmap(file, {imageOrientation: "from-image"}), result);
  } catch (error) {
    $("faces").replaceChildren();
    setStatus(`오류 / Error: ${error.message}`, true);
  }
}

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}});
  } catch (error) {
    setStatus(`웹캠을 열 수 없습니다 / Cannot open the webcam: ${error.message}`, true);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  live = true;
  $("camera").textContent = "웹캠 끄기 / Stop webcam";
  setStatus("웹캠 분류 중… / Classifying the webcam…");
  const frame = document.createElement("canvas");
  // One frame at a time: the next is sent when the answer to the last one is drawn.
  while (live) {
    if (!video.videoWidth) {
      await sleep(100);
      continue;
    }
    frame.width = video.videoWidth;
    frame.height = video.videoHeight;
    frame.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((done) => frame.toBlob(done, "image/jpeg", 0.85));
    try {
      const result = await classify(blob);
      if (live) show(frame, result);
    } catch (error) {
      setStatus(`오류 / Error: ${error.message}`, true);
      await sleep(1000);
    }
  }
}

function stopCamera() {
  live = false;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  $("camera").textContent = "웹캠 켜기 / Start webcam";
}

$("file").addEventListener("change", (event) => {
  if (event.target.files.length) classifyFile(event.target.files[0]);
  event.target.value = "";
});
$("camera").addEventListener("click", () => (live ? stopCamera() : startCamera()));
const stage = $("stage");
stage.addEventListener("dragover", (event) => {
  event.preventDefault();
  stage.classList.add("dragging");
});
stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
stage.addEventListener("drop", (event) => {
  event.preventDefault();
  stage.classList.remove("dragging");
  if (event.dataTransfer.files.length) classifyFile(event.dataTransfer.files[0]);
});
loadModel();
