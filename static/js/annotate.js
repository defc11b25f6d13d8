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

  function busy() {
    const f = form();
    return !f || f.classList.contains("htmx-request");
  }

  function submit(action) {
    if (busy()) return;
    const f = form();
    const button = f.querySelector(`button[type=submit][value="${action}"]`);
    f.requestSubmit(button);
  }

  function follow(key) {
    const link = workspace() && workspace().querySelector(`a[data-key="${key}"]`);
    if (link) link.click();
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
    sync();
    const focus = workspace() && workspace().querySelector("[data-focus]");
    if (focus) {
      focus.focus({ preventScroll: true });
      if (workspace().dataset.view === "article") focus.scrollIntoView({ block: "center" });
    }
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:load", (event) => {
    if (event.detail.elt.id === "workspace") start();
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

  document.addEventListener("keydown", (event) => {
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
    const f = form();
    const key = event.key;
    if (key === "?") {
      toggleHelp();
      event.preventDefault();
      return;
    }
    if (key === "Escape") {
      toggleHelp(false);
      return;
    }
    if (key === "Enter") {
      // Links and action buttons keep their own Enter; a focused label button must not
      // be toggled off by the key that means "submit".
      if (target.closest("a, button:not(.label-button), summary")) return;
      if (f) {
        event.preventDefault();
        submit("submit");
      }
      return;
    }
    if (key === "ArrowUp" || key === "ArrowDown") {
      if (workspace() && workspace().dataset.view === "article") {
        event.preventDefault();
        follow(key === "ArrowUp" ? "up" : "down");
      }
      return;
    }
    if (key.length !== 1) return;
    const lower = key.toLowerCase();
    if (lower === "b") return follow("back");
    if (lower === "v") {
      const view = workspace() && workspace().dataset.view;
      return follow(view === "article" ? "segment-view" : "article-view");
    }
    if (!f) return;
    if (lower === "s") return submit("skip");
    if (lower === "u") {
      const unsure = f.querySelector("input[name=unsure]");
      if (unsure) unsure.checked = !unsure.checked;
      return;
    }
    if (lower === "c") {
      event.preventDefault();
      const details = f.querySelector("details.comment");
      if (details) {
        details.open = true;
        details.querySelector("input").focus();
      }
      return;
    }
    const button = f.querySelector(`.label-button[data-shortcut="${CSS.escape(lower)}"]`);
    if (button) {
      event.preventDefault();
      toggle(button);
    }
  });
})();
