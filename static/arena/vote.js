// The voting page: load a battle, play both clips in step, unlock the vote once both
// have been watched, reveal the models, and show the next (already preloaded) battle.
(() => {
  "use strict";
  const app = document.getElementById("arena-app");
  if (!app) return;

  const arena = app.dataset.arena;
  const mode = app.dataset.mode || null;
  const battlesUrl = app.dataset.battlesUrl;
  const $ = (sel) => app.querySelector(sel);
  const videos = { a: $("#video-a"), b: $("#video-b") };
  const statusEl = $("#status");
  const choiceButtons = [...app.querySelectorAll("[data-choice]")];
  const nextButton = app.querySelector('[data-action="next"]');
  const after = $("#after");
  const playBoth = $("#play-both");

  let current = null;        // the battle on screen
  let upcoming = null;       // promise of the preloaded next battle
  let preloaders = [];       // detached <video> elements warming the next clips
  let watched = { a: false, b: false };
  let voted = false;
  let busy = false;
  let listenTo = "a";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function say(message, kind) {
    statusEl.textContent = message;
    statusEl.dataset.kind = kind || "";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const error = new Error(data.detail || Object.values(data).flat().join(" ") ||
                              `The server answered ${response.status}.`);
      error.status = response.status;
      error.retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10);
      throw error;
    }
    return data;
  }

  function issue() {
    const body = { arena };
    if (mode) body.mode = mode;
    return post(battlesUrl, body).then((battle) => {
      battle.receivedAt = performance.now();
      return battle;
    });
  }

  function preload(promise) {
    promise.then((battle) => {
      preloaders = ["a", "b"].map((side) => {
        const v = document.createElement("video");
        v.preload = "auto";
        v.muted = true;
        v.src = battle.clips[side].url;
        v.load();
        return v;
      });
      ["a", "b"].forEach((side) => { new Image().src = battle.clips[side].poster_url; });
    }).catch(() => {});
    return promise;
  }

  function setChoicesEnabled(enabled) {
    choiceButtons.forEach((b) => { b.disabled = !enabled; });
  }

  function updateWatched(side) {
    const label = $(`#watched-${side}`);
    label.textContent = watched[side] ? "watched ✓" : "not watched yet";
    label.classList.toggle("done", watched[side]);
    if (watched.a && watched.b && !voted) {
      setChoicesEnabled(true);
      say("Which clip is better? Choose with the buttons or the keys A, B, T, X.");
    }
  }

  function applyListen() {
    if (arena !== "audio") return;
    ["a", "b"].forEach((side) => { videos[side].muted = side !== listenTo; });
    app.querySelectorAll("[data-listen]").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.listen === listenTo));
    });
  }

  function show(battle) {
    current = battle;
    voted = false;
    watched = { a: false, b: false };
    $("#prompt-text").textContent = battle.prompt.text;
    const figure = $("#input-image");
    if (battle.prompt.input_image_url) {
      figure.querySelector("img").src = battle.prompt.input_image_url;
      figure.hidden = false;
    } else {
      figure.hidden = true;
    }
    ["a", "b"].forEach((side) => {
      const v = videos[side];
      v.poster = battle.clips[side].poster_url;
      v.src = battle.clips[side].url;
      v.load();
      $(`#reveal-${side}`).hidden = true;
      $(`#reveal-${side}`).textContent = "";
      app.querySelector(`[data-report="${side}"]`).closest("details").open = false;
      updateWatched(side);
    });
    listenTo = "a";
    applyListen();
    setChoicesEnabled(false);
    choiceButtons.forEach((b) => b.classList.remove("picked"));
    after.hidden = true;
    app.classList.remove("has-voted");
    say("Watch both clips to unlock the vote (Space plays both).");
  }

  async function load(promise) {
    busy = true;
    try {
      upcoming = null;
      show(await promise);
    } catch (error) {
      upcoming = null;
      retryLater(error, () => load(issue()));
    } finally {
      busy = false;
    }
  }

  function retryLater(error, again) {
    if (error.status === 429) {
      const wait = Math.max(error.retryAfter || 5, 1);
      say(`You're voting faster than we can keep up with — take a breather. ` +
          `The next battle comes in ${wait} s.`, "wait");
      setTimeout(again, wait * 1000);
    } else if (error.status === 503) {
      say(`${error.message} Trying again shortly…`, "error");
      setTimeout(again, 5000);
    } else {
      say(error.message || "Something went wrong. Reload the page to continue.", "error");
    }
  }

  function ready(video) {
    // Resolves once the clip can start: playing before metadata can stall in some browsers.
    if (video.readyState >= 1) return Promise.resolve();
    return new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  }

  async function playTogether() {
    const [a, b] = [videos.a, videos.b];
    if (!current) return;
    await Promise.all([ready(a), ready(b)]);
    [a, b].forEach((v) => { if (v.ended) v.currentTime = 0; });
    if (b.currentTime !== a.currentTime && a.currentTime < b.duration) b.currentTime = a.currentTime;
    applyListen();
    try {
      await Promise.all([a.play(), b.play()]);
    } catch (error) {
      say("Your browser blocked playback; press play on each clip.", "error");
    }
  }

  // Keep B in step with A while both play together.
  videos.a.addEventListener("timeupdate", () => {
    const [a, b] = [videos.a, videos.b];
    if (!a.paused && !b.paused && !b.ended && b.readyState >= 3 &&
        Math.abs(a.currentTime - b.currentTime) > 0.25 && a.currentTime < b.duration) {
      b.currentTime = a.currentTime;
    }
  });

  ["a", "b"].forEach((side) => {
    const v = videos[side];
    const mark = () => {
      if (!watched[side] && v.duration && (v.ended || v.currentTime >= v.duration - 0.3)) {
        watched[side] = true;
        updateWatched(side);
      }
    };
    v.addEventListener("timeupdate", mark);
    v.addEventListener("ended", mark);
  });

  async function vote(choice) {
    if (!current || voted || busy || !(watched.a && watched.b)) return;
    busy = true;
    setChoicesEnabled(false);
    try {
      const result = await post(`${battlesUrl}${encodeURIComponent(current.token)}/vote/`,
                                { choice });
      voted = true;
      // Preload the next battle now, while the reveal is read: issued earlier, its watch
      // time would already have run out before the voter saw it.
      upcoming = preload(issue());
      upcoming.catch(() => {});
      choiceButtons.forEach((b) => b.classList.toggle("picked", b.dataset.choice === choice));
      ["a", "b"].forEach((side) => {
        const el = $(`#reveal-${side}`);
        const org = result.organisations && result.organisations[side];
        const broken = result.broken === side ? " (deliberately broken copy)" : "";
        el.textContent = `${result.models[side]}${org ? ` · ${org}` : ""}${broken}`;
        el.hidden = false;
      });
      const picked = { a: "Clip A", b: "Clip B", tie: "a tie", both_bad: "both bad" }[choice];
      if (result.broken) {
        const good = result.broken === "a" ? "B" : "A";
        say(`You voted ${picked}. This was an attention check: clip ${result.broken.toUpperCase()} ` +
            `was a deliberately broken copy of clip ${good} (${result.models.a}). ` +
            "Checks like this keep the leaderboard honest; they are not counted.", "done");
      } else {
        say(`You voted ${picked}. A was ${result.models.a}; B was ${result.models.b}.`, "done");
      }
      app.classList.add("has-voted");
      after.hidden = false;
      nextButton.focus();
    } catch (error) {
      if (error.status === 400 && /watch/i.test(error.message)) {
        say(error.message, "wait");
        setChoicesEnabled(true);
      } else if (error.status === 409 || error.status === 404) {
        say(`${error.message} Loading a fresh battle…`, "error");
        setTimeout(() => load(upcoming || issue()), 1200);
      } else {
        setChoicesEnabled(true);
        retryLater(error, () => setChoicesEnabled(true));
      }
    } finally {
      busy = false;
    }
  }

  function next() {
    if (busy || !voted) return;
    ["a", "b"].forEach((side) => videos[side].pause());
    load(upcoming || issue());
  }

  choiceButtons.forEach((b) => b.addEventListener("click", () => vote(b.dataset.choice)));
  nextButton.addEventListener("click", next);
  playBoth.addEventListener("click", playTogether);
  app.querySelectorAll("[data-listen]").forEach((b) => b.addEventListener("click", () => {
    listenTo = b.dataset.listen;
    applyListen();
  }));
  const modeSelect = document.getElementById("mode-select");
  modeSelect.addEventListener("change", () => {
    const url = new URL(window.location.href);
    if (modeSelect.value) url.searchParams.set("mode", modeSelect.value);
    else url.searchParams.delete("mode");
    window.location.assign(url.toString());
  });

  app.querySelectorAll("[data-report]").forEach((form) => form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const data = new FormData(form);
    try {
      const answer = await post(`${battlesUrl}${encodeURIComponent(current.token)}/report/`, {
        side: form.dataset.report, reason: data.get("reason"), note: data.get("note") || "",
      });
      say(answer.detail, "done");
      form.closest("details").open = false;
    } catch (error) {
      say(error.message, "error");
    }
  }));

  const keys = {
    a: "a", arrowleft: "a", b: "b", arrowright: "b", t: "tie", arrowup: "tie",
    x: "both_bad", arrowdown: "both_bad",
  };
  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const target = e.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
                   target instanceof HTMLSelectElement;
    const key = e.key.toLowerCase();
    // Arrows on a focused video seek it, as users of video players expect.
    if (typing || (target instanceof HTMLVideoElement && key.startsWith("arrow"))) return;
    const onControl = target instanceof HTMLButtonElement || target instanceof HTMLVideoElement ||
                      target instanceof HTMLAnchorElement || target.tagName === "SUMMARY";
    if (key === " " && !onControl) {
      e.preventDefault();
      playTogether();
    } else if (key in keys && !voted) {
      e.preventDefault();
      vote(keys[key]);
    } else if ((key === "n" || (key === "enter" && !onControl)) && voted) {
      e.preventDefault();
      next();
    } else if (arena === "audio" && (key === "q" || key === "w")) {
      listenTo = key === "q" ? "a" : "b";
      applyListen();
    }
  });

  load(issue());
})();
