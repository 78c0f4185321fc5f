// The live page: an uploaded photo goes to POST /v1/classify and every face comes back as a box drawn on the
// canvas with its labels, and as an entry of the list, in Korean and English. The webcam streams its frames over
// the WebSocket /v1/watch: people are tracked across frames and each gets one decision (pass / warn / stop /
// uncertain), shown per person, with a log of every person seen.
"use strict";

const MASK = ["마스크 착용 / Mask worn", "마스크 잘못 착용 / Mask worn incorrectly", "마스크 미착용 / No mask"];
const GENDER = ["남성 / Male", "여성 / Female"];
// Shorter names for the labels on the photo (the list beside it has the long ones).
const SHORT_MASK = ["착용 / Mask", "잘못 착용 / Incorrect", "미착용 / No mask"];
const COLORS = ["#1a9850", "#e08000", "#d7301f"];  // by mask status: worn, incorrect, none
// The decisions of the stream, coloured like the mask status they stand for (maskcls.watch.decide.COLORS).
const DECISION_COLORS = {pass: "#1a9850", warn: "#e08000", stop: "#d7301f", uncertain: "#5e3c99", pending: "#808080"};
const DECISION_SHORT = {pass: "통과 / Pass", warn: "경고 / Warn", stop: "정지 / Stop", uncertain: "확인 필요 / Check",
                        pending: "판정 중 / Checking"};
const BOX = [840, 620];  // canvas pixels the photo is drawn into, scaled (up or down) to fit
let AGE = ageNames(30, 60);
let SHORT_AGE = shortAgeNames(30, 60);

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
let stream = null;
let socket = null;
let live = false;
const seen = new Map();  // person id -> their entry in the log of people seen

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
  paint(source, result, result.faces.map((face, i) => ({
    box: face.box, color: COLORS[face.mask.code],
    lines: [`${i + 1}. ${SHORT_MASK[face.mask.code]}`, `${GENDER[face.gender.code]} · ${SHORT_AGE[face.age.code]}`],
  })));
}

// Draw the frame with a box and a label per tracked person, in the colour of their decision.
function drawPeople(source, answer) {
  paint(source, answer, answer.people.map((person) => ({
    box: person.box, color: DECISION_COLORS[person.decision],
    lines: [`#${person.id} ${DECISION_SHORT[person.decision]}`],
  })));
}

function paint(source, result, items) {
  const scale = Math.min(BOX[0] / result.width, BOX[1] / result.height);
  canvas.width = Math.round(result.width * scale);
  canvas.height = Math.round(result.height * scale);
  canvas.hidden = false;
  $("placeholder").hidden = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = Math.max(2, Math.round(canvas.width / 300));
  const boxes = items.map((item) => ({
    x: item.box.x0 * scale, y: item.box.y0 * scale,
    w: (item.box.x1 - item.box.x0) * scale, h: (item.box.y1 - item.box.y0) * scale, color: item.color,
  }));
  boxes.forEach((box) => {
    ctx.strokeStyle = box.color;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
  });
  const placed = [];
  items.forEach((item, i) => label(boxes[i], item.lines, placed));
  canvas.dataset.faces = String(items.length);
}

// A filled label above the box, or below it, or inside its top, whichever first overlaps no label placed before;
// its text is sized by the face and shrunk until it fits the canvas.
function label(box, lines, placed) {
  const pad = 3;
  let size = Math.min(16, Math.max(10, Math.round(box.w / 7)));
  let width;
  do {
    ctx.font = `600 ${size}px "Noto Sans KR", system-ui, "NanumGothic", sans-serif`;
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

// The people in view now, one entry each, with the decision and the smoothed mask probabilities.
function listPeople(answer) {
  const items = answer.people.map((person) => {
    const item = el("li");
    item.style.setProperty("--swatch", DECISION_COLORS[person.decision]);
    item.dataset.person = String(person.id);
    item.dataset.decision = person.decision;
    item.append(el("div", "title", `사람 #${person.id} / Person #${person.id}`), el("div", "decision", person.label));
    [[MASK[0], person.mask.worn], [MASK[1], person.mask.incorrect], [MASK[2], person.mask.none]].forEach(([name, p]) => {
      const row = el("div", "row");
      row.append(el("span", "", name), el("span", "p", pct(p)));
      item.append(row);
    });
    item.append(el("div", "meta", `${person.classified} 프레임 분류 / frames classified`));
    return item;
  });
  $("faces").replaceChildren(...items);
}

// Every person seen since the webcam started, once each: their decisions in order, and whether they left.
function logPeople(answer) {
  const update = (id, history, decision, left) => {
    let item = seen.get(id);
    if (!item) {
      item = el("li");
      seen.set(id, item);
      $("people").prepend(item);
    }
    item.dataset.person = String(id);
    item.dataset.decision = decision;
    item.dataset.history = history.join(">");
    item.style.setProperty("--swatch", DECISION_COLORS[decision]);
    const steps = history.length ? history.map((d) => DECISION_SHORT[d]).join(" → ") : DECISION_SHORT.pending;
    item.textContent = `#${id} ${steps}${left ? " · 나감 / left" : ""}`;
    item.classList.toggle("left", left);
  };
  answer.people.forEach((person) => update(person.id, person.history, person.decision, false));
  answer.events.filter((e) => e.event === "exit").forEach((e) => update(e.id, e.history, e.decision, true));
}

function showPeople(source, answer) {
  drawPeople(source, answer);
  listPeople(answer);
  logPeople(answer);
  const n = answer.people.length;
  setStatus(n ? `사람 ${n}명 / ${n} ${n > 1 ? "people" : "person"} · ${Math.round(answer.milliseconds)} ms`
              : "사람이 보이지 않습니다 / Nobody in view");
}

function openSocket() {
  return new Promise((done, fail) => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/watch`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => done(ws);
    ws.onerror = () => fail(new Error("the stream /v1/watch could not be opened"));
  });
}

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}});
    socket = await openSocket();
  } catch (error) {
    setStatus(`웹캠을 열 수 없습니다 / Cannot open the webcam: ${error.message}`, true);
    stopCamera();
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  live = true;
  seen.clear();
  $("people").replaceChildren();
  $("camera").textContent = "웹캠 끄기 / Stop webcam";
  setStatus("웹캠 분류 중… / Classifying the webcam…");
  let answered = null;
  socket.onmessage = (event) => answered && answered(JSON.parse(event.data));
  socket.onclose = () => {
    if (live) setStatus("스트림이 끊겼습니다 / The stream closed", true);
    stopCamera();
  };
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
    const answer = await new Promise((done) => {
      answered = done;
      socket.send(blob);
    });
    if (!live) break;
    if (answer.error) {
      setStatus(`오류 / Error: ${answer.error}`, true);
      await sleep(1000);
      continue;
    }
    showPeople(frame, answer);
  }
}

function stopCamera() {
  live = false;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  if (socket) socket.close();
  socket = null;
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
// The canvas draws only with fonts already loaded: load the served Korean font first.
document.fonts.load('600 16px "Noto Sans KR"', "마스크 착용").catch(() => {});
loadModel();
