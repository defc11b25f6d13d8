// Keyboard-first labelling. The form's real inputs (checkboxes or radios named "labels")
// are the truth; the label buttons mirror them with aria-pressed. htmx posts the form and
// swaps #workspace; themata.js shows any failed request, and nothing here hides one.
"use strict";

(function () {
  let shownAt = performance.now();

  const workspace = () => document.getElementById("workspace");
  const form = () => document.getElementById("answer-form");
  const help = () => document.getElementById("shortcut-help");

  function inputFor(button) {
    const f = form();
    return f && f.querySelector(`input[name=labels][value="${button.dataset.labelId}"]`);
  }

  function sync() {
    const f = form();
    if (!f) return;
    f.querySelectorAll(".label-button").forEach((button) => {
      const input = inputFor(button);
      button.setAttribute("aria-pressed", input && input.checked ? "true" : "false");
    });
  }

  function toggle(button) {
    const input = inputFor(button);
    if (!input) return;
    const multi = form().dataset.multi === "true";
    const on = !input.checked;
    if (!multi) form().querySelectorAll("input[name=labels]").forEach((i) => (i.checked = false));
    input.checked = on;
    sync();
  }

  // While a request for the workspace is on its way, keys are kept and replayed on the
  // segment that comes back: typing ahead ("1", Enter, "2", Enter) loses nothing and never
  // acts on a form that is about to be replaced.
  let ready = true;
  let pending = [];

  function submit(action) {
    const f = form();
    if (!f) return;
    const button = f.querySelector(`button[type=submit][value="${action}"]`);
    // A form swapped in a moment ago may not be set up by htmx yet (it does so on settle);
    // without this, a fast Enter would become a plain form post and a full page load.
    if (window.htmx) window.htmx.process(f);
    f.requestSubmit(button);
  }

  function follow(key) {
    const link = workspace() && workspace().querySelector(`a[data-key="${key}"]`);
    if (link) link.click();
    return Boolean(link);
  }

  function toggleHelp(force) {
    const panel = help();
    if (!panel) return;
    const open = force === undefined ? panel.hidden : force;
    panel.hidden = !open;
    document
      .querySelectorAll('[data-action="help"][aria-expanded]')
      .forEach((b) => b.setAttribute("aria-expanded", String(open)));
  }

  function start() {
    shownAt = performance.now();
    const here = workspace();
    if (here && here.dataset.url && here.dataset.url !== location.pathname + location.search) {
      // "/annotate/" means "my next segment"; the address bar names this one instead, so
      // that a reload or the browser's Back shows the same segment.
      history.replaceState(history.state, "", here.dataset.url);
    }
    ready = true;
    const replay = pending;
    pending = [];
    sync();
    const focus = workspace() && workspace().querySelector("[data-focus]");
    if (focus) {
      focus.focus({ preventScroll: true });
      if (workspace().dataset.view === "article") focus.scrollIntoView({ block: "center" });
    }
    // After a refusal the person must see the message before anything else happens.
    if (workspace() && workspace().querySelector(".save-error")) return;
    // Keys after an Enter in the replay belong to the segment after that one.
    replay.forEach((key) => (ready ? act(key) : pending.push(key)));
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:load", (event) => {
    if (event.detail.elt.id === "workspace") start();
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.target && event.detail.target.id === "workspace") ready = false;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    // Answers that are swapped in (2xx, 400, 409) re-arm the keys through htmx:load. Any
    // other outcome swaps nothing: the form stays as it was, ready for a retry, and keys
    // typed ahead are dropped rather than applied to a segment the person cannot see.
    if (!(status >= 200 && status < 300) && status !== 400 && status !== 409) {
      ready = true;
      pending = [];
    }
  });

  // How long the segment was on screen, sent with the answer.
  document.addEventListener(
    "submit",
    (event) => {
      if (event.target.id !== "answer-form") return;
      const field = event.target.querySelector("input[name=time_spent_ms]");
      if (field) field.value = String(Math.round(performance.now() - shownAt));
    },
    true,
  );

  document.addEventListener("click", (event) => {
    const button = event.target.closest(".label-button");
    if (button) {
      toggle(button);
      return;
    }
    if (event.target.closest('[data-action="help"]')) toggleHelp();
  });

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target.matches && target.matches("input[type=text], textarea, select");
    if (typing) {
      if (event.key === "Escape") target.blur();
      if (event.key === "Enter" && target.form && target.form.id === "answer-form") {
        event.preventDefault();
        submit("submit");
      }
      return;
    }
    const key = event.key;
    if (!ready) {
      if (key.length === 1 || key === "Enter") {
        event.preventDefault();
        pending.push(key);
      }
      return;
    }
    if (key === "Enter" && target.closest("a, button:not(.label-button), summary")) {
      // Links and action buttons keep their own Enter.
      return;
    }
    if (act(key)) event.preventDefault();
  }

  // Carries out one key; returns whether the key was used.
  function act(key) {
    const f = form();
    if (key === "?") {
      toggleHelp();
      return true;
    }
    if (key === "Escape") {
      toggleHelp(false);
      return false;
    }
    if (key === "Enter") {
      // A focused label button must not be toggled off by the key that means "submit".
      if (!f) return false;
      submit("submit");
      return true;
    }
    if (key === "ArrowUp" || key === "ArrowDown") {
      if (!workspace() || workspace().dataset.view !== "article") return false;
      follow(key === "ArrowUp" ? "up" : "down");
      return true;
    }
    if (key.length !== 1) return false;
    const lower = key.toLowerCase();
    if (lower === "b") return follow("back");
    if (lower === "v") {
      const view = workspace() && workspace().dataset.view;
      return follow(view === "article" ? "segment-view" : "article-view");
    }
    if (!f) return false;
    if (lower === "s") {
      submit("skip");
      return true;
    }
    if (lower === "u") {
      const unsure = f.querySelector("input[name=unsure]");
      if (unsure) unsure.checked = !unsure.checked;
      return true;
    }
    if (lower === "c") {
      const details = f.querySelector("details.comment");
      if (details) {
        details.open = true;
        details.querySelector("input").focus();
      }
      return true;
    }
    const button = f.querySelector(`.label-button[data-shortcut="${CSS.escape(lower)}"]`);
    if (!button) return false;
    toggle(button);
    return true;
  }

  // Keys are handled only once htmx has set the form up (it does so on DOMContentLoaded,
  // before this listener runs): an early Enter must not become a plain form post.
  document.addEventListener("DOMContentLoaded", () => document.addEventListener("keydown", onKey));
})();
