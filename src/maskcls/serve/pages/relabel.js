// The relabeling page: one person at a time, photos side by side with their current labels; keyboard shortcuts
// save corrections (POST /api/corrections) to the relabel CSV, and the person is reloaded to show the result.
"use strict";

const MASK = {"wear": "착용 / worn", "incorrect": "잘못 착용 / incorrect", "not wear": "미착용 / none"};
const MASK_CLASS = {"wear": "mask-wear", "incorrect": "mask-incorrect", "not wear": "mask-none"};
const GENDER = {"male": "남성 / male", "female": "여성 / female"};

const $ = (id) => document.getElementById(id);
let people = [];
let current = 0;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({detail: `HTTP ${response.status}`}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return body;
}

async function loadInfo() {
  const info = await getJson("/api/info");
  const oof = info.oof_run ? ` · OOF: ${info.oof_run}` : " · OOF 없음 / no OOF run (--oof RUN)";
  $("info").textContent = `${info.root} · 사람 ${info.people}명 / ${info.people} people · 사진 ${info.photos}장 / ` +
    `${info.photos} photos · CSV: ${info.csv}${oof}`;
  const ranked = $("order").querySelector("option[value=disagreement]");
  ranked.disabled = !info.oof_run;
}

async function loadPeople() {
  const order = $("order").value;
  const limit = order === "disagreement" ? `&limit=${Math.max(1, Number($("limit").value) || 100)}` : "";
  $("limit").disabled = order !== "disagreement";
  people = await getJson(`/api/people?order=${order}${limit}`);
  current = 0;
  render();
}

function tag(text, className = "") {
  return el("span", `tag ${className}`.trim(), text);
}

function render() {
  const person = people[current];
  $("position").textContent = people.length ? `${current + 1} / ${people.length}` : "";
  if (!person) {
    $("labels").replaceChildren(el("span", "muted", "사람이 없습니다 / No people"));
    $("photos").replaceChildren();
    $("details").replaceChildren();
    return;
  }
  const genderChanged = person.gender !== person.original.gender;
  const ageChanged = person.age !== person.original.age;
  const labels = [
    el("span", "id", person.id),
    el("span", "folder", person.person),
    tag(GENDER[person.gender], genderChanged ? "changed" : ""),
    tag(`${person.age}세 / ${person.age} y (${person.band})`, ageChanged ? "changed" : ""),
  ];
  if (person.swapped) labels.push(tag("incorrect_mask ↔ normal 바뀜 / swapped", "changed"));
  if (person.dropped) labels.push(tag("제외됨 / dropped", "dropped"));
  $("labels").replaceChildren(...labels);
  $("labels").dataset.id = person.id;

  $("photos").replaceChildren(...person.photos.map((photo) => {
    const figure = el("figure", MASK_CLASS[photo.mask]);
    const img = el("img");
    img.src = photo.url;
    img.alt = `${person.person}/${photo.file}`;
    img.loading = "lazy";
    const caption = el("figcaption", "", `${photo.file} · ${MASK[photo.mask]}`);
    if (photo.swapped) caption.append(" ", el("span", "swapped", `(→ ${photo.stem})`));
    figure.append(img, caption);
    return figure;
  }));

  const details = [];
  const d = person.disagreement;
  if (d) {
    details.push(el("div", "", `모델 불일치 / Disagreement ${d.score.toFixed(2)} (${d.photos} photos) — ` +
      `성별 / gender ${d.gender.toFixed(2)}, 나이 / age ${d.age.toFixed(2)}, 마스크 / mask ${d.mask.toFixed(2)}`));
    details.push(el("div", "muted", `모델 / model: ${GENDER[d.model_gender]} ${Math.round(100 * d.p_model_gender)}%, ` +
      `${d.model_age} ${Math.round(100 * d.p_model_age)}%`));
  }
  const list = el("ul");
  person.corrections.forEach((c) => list.append(el("li", "", `${c.field} → ${c.value} (${c.source})`)));
  details.push(el("div", "", person.corrections.length ? "수정 / Corrections:" : "수정 없음 / No corrections"));
  if (person.corrections.length) details.push(list);
  details.push(el("div", "muted", `원래 라벨 / On disk: ${person.original.gender}, ${person.original.age}`));
  $("details").replaceChildren(...details);
}

async function save(field, value) {
  const person = people[current];
  if (!person) return;
  setStatus("저장 중… / Saving…");
  try {
    const saved = await getJson("/api/corrections", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({id: person.id, field, value}),
    });
    // The id's folders come back with the correction applied.
    const fresh = await getJson(`/api/people?id=${encodeURIComponent(person.id)}`);
    const byFolder = new Map(fresh.map((p) => [p.person, p]));
    people = people.map((p) => byFolder.get(p.person) || p);
    render();
    setStatus(`저장됨 / Saved: ${saved.id} ${saved.field} → ${saved.value} (${saved.csv})`);
  } catch (error) {
    setStatus(`오류 / Error: ${error.message}`, true);
  }
}

function move(step) {
  if (!people.length) return;
  current = Math.min(people.length - 1, Math.max(0, current + step));
  render();
  setStatus("");
}

function askAge() {
  const person = people[current];
  if (!person) return;
  $("age-form").hidden = false;
  $("age-input").value = person.age;
  $("age-input").focus();
  $("age-input").select();
}

$("age-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("age-form").hidden = true;
  save("age", Number($("age-input").value));
});
$("age-input").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    $("age-form").hidden = true;
    $("age-input").blur();
  }
});
$("search").addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  const index = people.findIndex((p) => p.id === $("search").value.trim());
  if (index < 0) {
    setStatus(`없는 ID / Unknown id: ${$("search").value}`, true);
    return;
  }
  current = index;
  $("search").blur();
  render();
});
$("order").addEventListener("change", () => loadPeople().catch((e) => setStatus(e.message, true)));
$("limit").addEventListener("change", () => loadPeople().catch((e) => setStatus(e.message, true)));

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const person = people[current];
  const actions = {
    "j": () => move(1), "ArrowRight": () => move(1), "k": () => move(-1), "ArrowLeft": () => move(-1),
    "g": () => person && save("gender", person.gender === "male" ? "female" : "male"),
    "a": askAge,
    "s": () => person && save("swap_incorrect_normal", !person.swapped),
    "x": () => person && save("drop", !person.dropped),
    "/": () => $("search").focus(),
  };
  if (actions[event.key]) {
    event.preventDefault();
    actions[event.key]();
  }
});

loadInfo().then(loadPeople).catch((error) => setStatus(`오류 / Error: ${error.message}`, true));
