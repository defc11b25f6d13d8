// Site-wide behaviour: label colours and visible request errors. No inline script anywhere,
// so the Content-Security-Policy forbids all of them.
"use strict";

(function () {
  const banner = () => document.getElementById("request-error");

  function showError(message) {
    const el = banner();
    if (!el) return;
    el.querySelector(".banner-text").textContent = message;
    el.hidden = false;
  }

  function hideError() {
    const el = banner();
    if (el) el.hidden = true;
  }

  window.themata = { showError, hideError };

  // Label colours come from the data; CSSOM writes are allowed where style attributes are not.
  function paint(root) {
    root.querySelectorAll("[data-color]").forEach((el) => {
      el.style.setProperty("--label-color", el.dataset.color);
      // Text on the colour: black or white by contrast, chosen on the server.
      if (el.dataset.textColor) el.style.setProperty("--label-text", el.dataset.textColor);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    paint(document);
    document.addEventListener("click", (event) => {
      if (event.target.closest("[data-dismiss]")) hideError();
    });
  });
  // htmx:load fires for every piece of content htmx puts into the page.
  document.addEventListener("htmx:load", (event) => paint(event.detail.elt));

  // django-htmx's debug helper (DEBUG only) would replace the page with the body of a 4xx
  // answer; our 400/409 answers are forms with their message, swapped in like any other.
  document.addEventListener(
    "htmx:beforeOnLoad",
    (event) => {
      const status = event.detail.xhr.status;
      if (status === 400 || status === 409) event.stopPropagation();
    },
    true,
  );

  const STATUS_MESSAGES = {
    401: "Your session has ended. Log in again (in another tab), then retry.",
    403: "You are not allowed to do this in this project.",
    404: "This no longer exists, or you cannot see it.",
    413: "The request was too large.",
  };

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    const type = xhr.getResponseHeader("Content-Type") || "";
    let message = STATUS_MESSAGES[xhr.status];
    if (type.startsWith("text/plain") && xhr.responseText) message = xhr.responseText;
    if (!message) message = `The server failed (error ${xhr.status}); nothing was saved. Retry, or reload the page.`;
    showError(message);
  });
  document.addEventListener("htmx:sendError", () => {
    showError("The server could not be reached; nothing was saved. Check the connection and retry.");
  });
  document.addEventListener("htmx:timeout", () => {
    showError("The server took too long to answer; nothing may have been saved. Retry.");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful) hideError();
  });
})();
