/* mockksef training console: live journal and drill pages (Server-Sent Events), request
 * details, small form helpers. Plain browser JavaScript, no build step, no dependencies. */
(function () {
  "use strict";

  var body = document.body;
  var base = body.dataset.base || "";
  var MAX_ROWS = 500;

  function url(path, params) {
    var query = new URLSearchParams(params || {});
    var text = query.toString();
    return base + path + (text ? "?" + text : "");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function clockTime(text) {
    // "2026-03-02T09:00:00.0000000+00:00" -> "09:00:00" (the mock's clock, UTC)
    return text && text.length >= 19 ? text.slice(11, 19) : (text || "");
  }

  function readConfig(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // -- journal rows --------------------------------------------------------------------------

  function entryRow(entry, cfg) {
    if (entry.kind === "event") {
      return el("tr", { "class": "event", "data-seq": entry.seq }, [
        el("td", { text: clockTime(entry.time) }),
        el("td", { text: (entry.environment || "").toUpperCase() }),
        el("td", { colspan: "7", text: cfg.event + ": " + entry.event + (entry.eventScenario ? " " + entry.eventScenario : "") })
      ]);
    }
    var status = entry.status === null || entry.status === undefined
      ? el("span", { "class": "status none", text: entry.fault || "—" })
      : el("span", { "class": "status " + entry.statusClass, text: String(entry.status) });
    var codes = el("td", { "class": "codes" }, entry.codes.map(function (c) {
      return el("span", { "class": "code", title: c.text }, [el("b", { text: String(c.code) }), c.text ? " " + c.text : ""]);
    }));
    var rule = entry.hiddenRule
      ? el("em", { "class": "hidden-rule", text: cfg.hidden })
      : (entry.rule ? el("code", { text: entry.rule, title: entry.explain || "" }) : "");
    var links = el("td", { "class": "links" });
    if (entry.lookup) {
      links.appendChild(el("a", { href: url("/", { q: entry.lookup }), "class": "explain-link", target: "_blank", text: cfg.explain }));
    }
    var row = el("tr", {
      "class": "entry" + (entry.failed ? " failed" : ""),
      "data-seq": entry.seq,
      "data-status": entry.status === null ? "" : entry.status,
      "data-path": entry.path || ""
    }, [
      el("td", { text: clockTime(entry.time) }),
      el("td", { text: (entry.environment || "").toUpperCase() }),
      el("td", { text: entry.method || "" }),
      el("td", { "class": "path", title: entry.operation || "", text: entry.path || "" }),
      el("td", {}, [status, entry.statusText ? " " + entry.statusText : ""]),
      codes,
      el("td", {}, [rule]),
      el("td", { "class": "num", text: entry.durationMs === undefined || entry.durationMs === null ? "" : entry.durationMs.toFixed(1) }),
      links
    ]);
    row.addEventListener("click", function (event) {
      if (event.target.tagName !== "A") { openDetail(entry.seq, cfg); }
    });
    return row;
  }

  function addRow(tbody, row) {
    tbody.insertBefore(row, tbody.firstChild);
    while (tbody.rows.length > MAX_ROWS) { tbody.deleteRow(tbody.rows.length - 1); }
    var empty = document.getElementById("journal-empty");
    if (empty) { empty.hidden = true; }
  }

  // -- request details -----------------------------------------------------------------------

  function headerText(headers) {
    return headers.map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
  }

  function openDetail(seq, cfg) {
    var dialog = document.getElementById("detail");
    if (!dialog) { return; }
    fetch(url("/journal/" + seq), { headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(function (data) {
        var entry = data.entry;
        document.getElementById("detail-title").textContent =
          "#" + entry.seq + " " + (entry.method || "") + " " + (entry.path || "") + " → " + (entry.status === null ? (entry.fault || "—") : entry.status);
        var links = document.getElementById("detail-links");
        links.textContent = "";
        if (data.lookup) { links.appendChild(el("a", { href: data.lookup, target: "_blank", "class": "explain-link button", text: cfg.explain + ": " + entry.lookup })); }
        if (data.scenario) { links.appendChild(document.createTextNode(" ")); links.appendChild(el("a", { href: data.scenario, target: "_blank", "class": "button", text: cfg.scenario + ": " + entry.scenario })); }
        document.getElementById("detail-explain").textContent = entry.explain || "";
        var exchange = data.exchange;
        document.getElementById("detail-none").hidden = !!exchange;
        document.getElementById("detail-exchange").hidden = !exchange;
        if (exchange) {
          var rq = exchange.request, rs = exchange.response;
          document.getElementById("detail-request-headers").textContent = rq.method + " " + rq.path + "\n" + headerText(rq.headers);
          document.getElementById("detail-request-body").textContent = rq.body + (rq.cut ? "\n…" : "");
          document.getElementById("detail-response-headers").textContent = "HTTP " + rs.status + "\n" + headerText(rs.headers);
          document.getElementById("detail-response-body").textContent = rs.body + (rs.cut ? "\n…" : "");
        }
        if (!dialog.open) { dialog.showModal(); }
      });
  }

  // -- streams -------------------------------------------------------------------------------

  function stream(source, handlers) {
    var events = new EventSource(source);
    var dot = document.getElementById("live-dot");
    events.onopen = function () { if (dot) { dot.classList.add("on"); } body.dataset.live = "1"; };
    events.onerror = function () { if (dot) { dot.classList.remove("on"); } };
    Object.keys(handlers).forEach(function (name) {
      events.addEventListener(name, function (event) { handlers[name](JSON.parse(event.data)); });
    });
    window.addEventListener("pagehide", function () { events.close(); });
    return events;
  }

  function initJournal() {
    var cfg = readConfig("journal-config");
    if (!cfg) { return; }
    var tbody = document.querySelector("#journal tbody");
    stream(cfg.stream, { entry: function (entry) { addRow(tbody, entryRow(entry, cfg)); } });
  }

  function connectorLine(message) {
    return el("li", { "class": "level-" + message.level, "data-seq": message.seq }, [
      el("time", { text: clockTime(message.time) }),
      " ",
      el("code", { text: "KSeF2 " + message.operation }),
      " – " + message.text
    ]);
  }

  function initDrill() {
    var cfg = readConfig("drill-config");
    if (!cfg) { return; }
    var tbody = document.querySelector("#drill-journal tbody");
    var connector = document.getElementById("connector");
    var badge = document.getElementById("drill-status");
    stream(cfg.stream, {
      entry: function (entry) { addRow(tbody, entryRow(entry, cfg)); },
      message: function (message) { if (connector) { connector.appendChild(connectorLine(message)); } },
      status: function (status) {
        if (badge) { badge.textContent = status.label; badge.className = "badge " + status.status; }
        body.dataset.drillStatus = status.status;
      },
      answers: function (answers) {
        var table = document.querySelector("#answers tbody");
        if (!table) { return; }
        table.textContent = "";
        if (!answers.length) {
          table.appendChild(el("tr", { "class": "empty" }, [el("td", { colspan: "3", "class": "muted", text: cfg.noAnswers })]));
        }
        answers.forEach(function (a) {
          table.appendChild(el("tr", {}, [
            el("td", { text: a.trainee }),
            el("td", { text: a.score + "/" + a.max + " (" + a.percent + "%)" }),
            el("td", { text: a.submitted })
          ]));
        });
      }
    });
  }

  // -- forms ---------------------------------------------------------------------------------

  function initForms() {
    document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) { return; }
        file.text().then(function (text) { document.getElementById(input.dataset.loadInto).value = text; });
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  }

  initForms();
  initJournal();
  initDrill();
})();
