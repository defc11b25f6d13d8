// Browser uploads with two progress bars: the upload itself (xhr.upload progress events) and
// the import, read line by line from the server's streamed NDJSON answer as it arrives.
// Without this script the form posts normally and the page comes back with the result.
// Everything from the server is shown with textContent: file names are untrusted.
"use strict";

(function () {
  const NDJSON = "application/x-ndjson";
  const STATUS_MESSAGES = {
    401: "Your session has ended. Log in again (in another tab), then retry.",
    403: "You may not import into this project, or the page has expired: reload it and retry.",
    404: "This project no longer exists, or you cannot see it.",
    413: "The upload is larger than the server accepts; nothing was imported.",
  };

  function megabytes(bytes) {
    return `${(bytes / 1048576).toFixed(1)} MB`;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function problemText(problem) {
    const where = problem.line ? `${problem.source}, line ${problem.line}` : problem.source;
    return where ? `${where}: ${problem.message}` : problem.message;
  }

  function showResult(box, ok, summary, problems) {
    const alert = element("div", ok ? "alert alert-ok" : "alert alert-error");
    alert.setAttribute("role", ok ? "status" : "alert");
    alert.append(element("p", "upload-summary", summary));
    if (problems && problems.length) {
      const list = element("ul", "errorlist upload-problems");
      problems.forEach((problem) => list.append(element("li", "", problemText(problem))));
      alert.append(list);
    }
    box.replaceChildren(alert);
  }

  function warnBeforeLeaving(event) {
    // Leaving the page stops the import, and then nothing of it is stored.
    event.preventDefault();
  }

  function setUp(form) {
    const section = form.parentElement;
    const progress = section.querySelector("[data-upload-progress]");
    const uploadBar = section.querySelector("[data-upload-bar]");
    const uploadText = section.querySelector("[data-upload-text]");
    const importBar = section.querySelector("[data-import-bar]");
    const importText = section.querySelector("[data-import-text]");
    const resultBox = section.querySelector("[data-upload-result]");
    const submit = form.querySelector("[data-upload-submit]");
    const fileInput = form.querySelector("input[type=file]");
    const maxBytes = Number(form.dataset.maxBytes);
    const maxFiles = Number(form.dataset.maxFiles);

    // The server checks the same limits; checking here first saves uploading in vain.
    function refusedHere(files) {
      if (files.length > maxFiles) {
        showResult(
          resultBox,
          false,
          `Too many files: send at most ${maxFiles} in one upload (a .zip of many files counts as one). Nothing was imported.`,
          [],
        );
        return true;
      }
      const tooLarge = files
        .filter((file) => file.size > maxBytes)
        .map((file) => ({ source: file.name, line: null, message: `file is too large (max ${form.dataset.maxSize})` }));
      if (tooLarge.length) {
        showResult(resultBox, false, `Import refused: ${tooLarge.length} problem(s); nothing was uploaded.`, tooLarge);
        return true;
      }
      return false;
    }

    function refreshHistory() {
      if (window.htmx) {
        window.htmx.ajax("GET", form.dataset.historyUrl, { target: "#import-history", swap: "outerHTML" });
      }
    }

    function setBusy(busy) {
      submit.disabled = busy;
      fileInput.disabled = busy;
      form.setAttribute("aria-busy", busy ? "true" : "false");
      if (busy) window.addEventListener("beforeunload", warnBeforeLeaving);
      else window.removeEventListener("beforeunload", warnBeforeLeaving);
    }

    function send() {
      const data = new FormData(form);
      const xhr = new XMLHttpRequest();
      let consumed = 0;
      let finished = false;

      resultBox.replaceChildren();
      uploadBar.max = 100;
      uploadBar.value = 0;
      uploadText.textContent = "Starting…";
      importBar.removeAttribute("value");
      importText.textContent = "Waiting for the upload.";
      progress.hidden = false;
      setBusy(true);

      const isStream = () => (xhr.getResponseHeader("Content-Type") || "").startsWith(NDJSON);

      function handle(event) {
        if (event.event === "progress") {
          if (event.bytes_total > 0) {
            importBar.max = event.bytes_total;
            importBar.value = event.bytes_done;
          }
          const articles = `${event.articles_read} article${event.articles_read === 1 ? "" : "s"}`;
          importText.textContent = `${megabytes(event.bytes_done)} of ${megabytes(event.bytes_total)} read · ${articles}`;
        } else if (event.event === "result") {
          finished = true;
          if (event.ok) {
            importBar.max = 1;
            importBar.value = 1;
          }
          importText.textContent = event.ok ? "Finished." : "Stopped: nothing was imported.";
          showResult(resultBox, event.ok, event.summary, event.ok ? event.skipped : event.errors);
          if (event.ok) form.reset();
          refreshHistory();
        }
      }

      function readLines() {
        if (!isStream()) return;
        const text = xhr.responseText;
        let end;
        while ((end = text.indexOf("\n", consumed)) !== -1) {
          const line = text.slice(consumed, end);
          consumed = end + 1;
          if (line.trim()) handle(JSON.parse(line));
        }
      }

      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        uploadBar.max = event.total;
        uploadBar.value = event.loaded;
        uploadText.textContent = `${megabytes(event.loaded)} of ${megabytes(event.total)}`;
      });
      xhr.upload.addEventListener("load", () => {
        uploadBar.value = uploadBar.max;
        uploadText.textContent = "Uploaded.";
        importText.textContent = "The server is reading the files…";
      });
      xhr.addEventListener("progress", readLines);
      xhr.addEventListener("load", () => {
        readLines();
        setBusy(false);
        if (finished) return;
        let message;
        if (isStream()) {
          message = "The server stopped answering before the import finished; check the history, then retry.";
        } else if (xhr.status === 200) {
          // A redirect was followed: to the login page, when the session has ended.
          message = STATUS_MESSAGES[401];
        } else {
          message = STATUS_MESSAGES[xhr.status] || `The server failed (error ${xhr.status}); nothing was imported.`;
        }
        importText.textContent = "";
        showResult(resultBox, false, message, []);
      });
      xhr.addEventListener("error", () => {
        setBusy(false);
        importText.textContent = "";
        showResult(
          resultBox,
          false,
          "The connection to the server broke off. Check the history to see whether the import ran, then retry.",
          [],
        );
      });

      xhr.open("POST", form.action);
      // The server streams its answer only when asked for this type.
      xhr.setRequestHeader("Accept", NDJSON);
      xhr.send(data);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (submit.disabled || refusedHere(Array.from(fileInput.files))) return;
      send();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-import-upload]").forEach(setUp);
  });
})();
