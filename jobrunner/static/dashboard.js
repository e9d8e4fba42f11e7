// The dashboard's behaviour in the browser, in plain JavaScript:
// * every <time datetime="..."> is written in the browser's time zone, with
//   the UTC time left in its title for hovering; a chart bar's tooltip (an
//   SVG <title data-datetime="...">) gives the local time with UTC after it;
// * a page with a live bar polls its JSON twin (/live/...) and swaps in the
//   regions that changed, keeping keyboard focus where it was;
// * the run page appends new log output as it arrives;
// * "Updated N seconds ago" says how fresh the page is.
(function () {
  "use strict";

  var DAY = 24 * 3600 * 1000;
  var hourMinute = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit"
  });
  var dayAndTime = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
  });
  var fullDate = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  var dayWithZone = new Intl.DateTimeFormat(undefined, {
    weekday: "short", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  var dateOnly = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit"
  });

  function sameDay(a, b) {
    return dateOnly.format(a) === dateOnly.format(b);
  }

  // Short times for tables: "14:05" today, "yesterday 23:10",
  // "tomorrow 02:00", else "3 May, 14:05". "full" gives the date, seconds
  // and zone; "day" the weekday, date and zone to the minute.
  function formatTime(date, style, now) {
    if (style === "full") {
      return fullDate.format(date);
    }
    if (style === "day") {
      return dayWithZone.format(date);
    }
    if (sameDay(date, now)) {
      return hourMinute.format(date);
    }
    if (sameDay(date, new Date(now.getTime() - DAY))) {
      return "yesterday " + hourMinute.format(date);
    }
    if (sameDay(date, new Date(now.getTime() + DAY))) {
      return "tomorrow " + hourMinute.format(date);
    }
    return dayAndTime.format(date);
  }

  function localiseTimes(root) {
    var now = new Date();
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var element = times[i];
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime()) || element.closest("#live-text")) {
        continue;
      }
      element.textContent = formatTime(date, element.dataset.style, now);
    }
    var tooltips = root.querySelectorAll("svg title[data-datetime]");
    for (var j = 0; j < tooltips.length; j++) {
      var tooltip = tooltips[j];
      var when = new Date(tooltip.getAttribute("data-datetime"));
      if (isNaN(when.getTime())) {
        continue;
      }
      tooltip.textContent = tooltip.getAttribute("data-lead") + ", " +
        fullDate.format(when) + " (" + tooltip.getAttribute("data-utc") + ")";
    }
  }

  function secondsAgo(seconds) {
    if (seconds < 2) {
      return "just now";
    }
    if (seconds < 90) {
      return Math.round(seconds) + " seconds ago";
    }
    var minutes = Math.round(seconds / 60);
    return minutes + (minutes === 1 ? " minute ago" : " minutes ago");
  }

  function announce(text) {
    var announcer = document.getElementById("announcer");
    if (announcer) {
      announcer.textContent = text;
    }
  }

  // Put fresh HTML into a region, unless it did not change. If the keyboard
  // focus was inside, give it back to the same link afterwards.
  var shown = {};
  function replaceRegion(name, html) {
    var region = document.querySelector('[data-region="' + name + '"]');
    if (!region || shown[name] === html) {
      return;
    }
    shown[name] = html;
    var active = document.activeElement;
    var focusKey = null;
    if (active && active !== region && region.contains(active)) {
      focusKey = active.id ? { id: active.id } : { href: active.getAttribute("href") };
    }
    region.innerHTML = html;
    localiseTimes(region);
    if (focusKey) {
      var again = focusKey.id
        ? document.getElementById(focusKey.id)
        : region.querySelector('[href="' + CSS.escape(focusKey.href || "") + '"]');
      if (again) {
        again.focus();
      }
    }
  }

  // The run page's log: keep following the end while the reader is there.
  function applyLog(update) {
    var log = document.getElementById("log");
    if (!log || !update) {
      return;
    }
    var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    if (update.mode === "replace") {
      log.textContent = update.text;
    } else if (update.text) {
      log.appendChild(document.createTextNode(update.text));
    }
    log.dataset.length = update.length;
    log.dataset.omitted = update.omitted;
    var note = document.getElementById("log-note");
    if (note && update.omitted > 0) {
      note.textContent = "The log outgrew its limit: " + update.omitted +
        " bytes from its middle are not kept.";
    }
    if (atEnd) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function liveUrl(bar) {
    var url = bar.dataset.liveUrl;
    var log = document.getElementById("log");
    if (log) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "length=" +
        encodeURIComponent(log.dataset.length || "0") + "&omitted=" +
        encodeURIComponent(log.dataset.omitted || "0");
    }
    return url;
  }

  function startLive(bar) {
    var interval = Math.max(parseFloat(bar.dataset.pollInterval) || 5, 0.5) * 1000;
    var text = document.getElementById("live-text");
    var status = document.getElementById("live-status");
    var updated = Date.now();
    var problem = null;
    var stopped = null;
    var timer = null;
    var runState = document.getElementById("run-state");
    var lastState = runState ? runState.dataset.state : null;

    function render() {
      var ago = (Date.now() - updated) / 1000;
      var words = "Updated " + secondsAgo(ago);
      if (stopped) {
        words = stopped + " " + words + ".";
      } else if (problem) {
        words += ". " + problem;
      }
      text.textContent = words;
      status.classList.toggle("stale", Boolean(problem));
      status.classList.toggle("stopped", Boolean(stopped));
    }

    function schedule() {
      if (!stopped) {
        timer = window.setTimeout(poll, interval);
      }
    }

    function sessionEnded() {
      stopped = "Your session has ended: log in again to see fresh data.";
      var link = document.createElement("a");
      link.href = "/login?came_from=" +
        encodeURIComponent(location.pathname + location.search);
      link.textContent = "Log in";
      render();
      text.appendChild(document.createTextNode(" "));
      text.appendChild(link);
    }

    function poll() {
      timer = null;
      if (document.hidden) {
        return; // Resumed by the visibilitychange listener.
      }
      fetch(liveUrl(bar), {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || response.status === 401 ||
            response.status === 403) {
          sessionEnded();
          return null;
        }
        if (!response.ok || type.indexOf("application/json") < 0) {
          throw new Error("status " + response.status);
        }
        return response.json();
      }).then(function (data) {
        if (!data) {
          return;
        }
        Object.keys(data.regions || {}).forEach(function (name) {
          replaceRegion(name, data.regions[name]);
        });
        applyLog(data.log);
        if (data.state && lastState && data.state !== lastState) {
          var badge = document.querySelector("#run-state .badge");
          announce("The run is now " + (badge ? badge.textContent : data.state) + ".");
        }
        lastState = data.state || lastState;
        updated = Date.now();
        problem = null;
        if (data.finished) {
          var log = document.getElementById("log");
          if (log) {
            delete log.dataset.follow;
          }
          stopped = "This run has finished.";
        }
        render();
        schedule();
      }).catch(function () {
        problem = "The last update failed; trying again.";
        render();
        schedule();
      });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null && !stopped) {
        poll();
      }
    });
    window.setInterval(render, 1000);
    if (document.getElementById("log") && !document.querySelector("[data-follow]")) {
      stopped = "This run has finished.";
    }
    render();
    schedule();
  }

  function start() {
    localiseTimes(document);
    var zone = document.getElementById("browser-zone");
    if (zone) {
      zone.textContent = "your time zone (" +
        Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
    }
    var log = document.getElementById("log");
    if (log && log.dataset.follow) {
      log.scrollTop = log.scrollHeight;
    }
    var bar = document.querySelector("[data-live-url]");
    if (bar) {
      startLive(bar);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
