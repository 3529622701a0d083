// The dashboard's only script: the live decision feed and confirmations. No third-party code.
"use strict";

(function () {
  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) {
      const span = document.createElement(className === "code" ? "code" : "span");
      if (className !== "code") span.className = className;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }

  function render(decision) {
    const row = document.createElement("tr");
    row.dataset.id = String(decision.id);
    row.className = "fresh";
    cell(row, decision.at.slice(0, 19).replace("T", " "));
    cell(row, decision.client || "");
    const session = cell(row, "");
    if (decision.session_id) {
      const a = document.createElement("a");
      a.href = "/sessions/" + encodeURIComponent(decision.session_id);
      a.textContent = decision.session_id;
      session.appendChild(a);
    }
    cell(row, decision.upstream || "");
    cell(row, decision.tool_name);
    cell(row, decision.category);
    cell(row, decision.decision, "verdict " + decision.decision);
    cell(row, decision.rule || "");
    cell(row, decision.reason || "");
    cell(row, JSON.stringify(decision.arguments).slice(0, 600), "code");
    return row;
  }

  function startFeed(box) {
    const body = box.querySelector("tbody");
    let newest = Number(box.dataset.newest || "0");
    const filters = new URLSearchParams(window.location.search);
    async function poll() {
      const query = new URLSearchParams();
      for (const name of ["decision", "rule", "upstream", "since", "until"]) {
        if (filters.get(name)) query.set(name, filters.get(name));
      }
      query.set("after", String(newest));
      query.set("limit", "200");
      try {
        const answer = await fetch("/api/admin/decisions?" + query, { credentials: "same-origin" });
        if (answer.ok) {
          const found = (await answer.json()).decisions;
          if (found.length) {
            const empty = body.querySelector("tr.empty");
            if (empty) empty.remove();
            for (const decision of found.slice().reverse()) body.insertBefore(render(decision), body.firstChild);
            newest = found[0].id;
          }
        }
      } catch (error) {
        // The server may be restarting; the next poll tries again.
      }
      window.setTimeout(poll, 1000);
    }
    window.setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const box = document.querySelector("div.scroll[data-live='1']");
    if (box) startFeed(box);
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  });
})();
