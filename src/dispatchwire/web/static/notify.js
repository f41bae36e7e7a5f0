// A new offer is announced with a beep, a vibration and a system notification, each where the
// browser allows it (sound needs a click on the page first; notifications need a permission).

import { t } from "./i18n.js";
import { applianceLabel } from "./ui.js";

let audio = null;

function unlockSound() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null; // no Web Audio here
  }
}

document.addEventListener("pointerdown", unlockSound);
document.addEventListener("keydown", unlockSound);

function beep() {
  if (audio?.state !== "running") return;
  const now = audio.currentTime;
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.setValueAtTime(0.25, now);
  gain.gain.exponentialRampToValueAtTime(0.001, now + 0.5);
  tone.connect(gain).connect(audio.destination);
  tone.start(now);
  tone.stop(now + 0.5);
}

function systemNotification(offer) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  try {
    new Notification(t("master.notificationTitle"), {
      body: t("master.notificationBody", {
        appliance: applianceLabel(offer.applianceType), problem: offer.problem, address: offer.address,
      }),
      tag: `offer-${offer.id}`,
    });
  } catch {
    // Android Chrome allows notifications only from a service worker: the beep has to do.
  }
}

export function announceOffer(offer) {
  beep();
  navigator.vibrate?.([200, 100, 200]);
  systemNotification(offer);
}

/** The "Turn on notifications" button, shown while the browser has not been asked yet. */
export function setupNotificationButton(button) {
  const update = () => {
    button.hidden = !("Notification" in window) || Notification.permission !== "default";
  };
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    update();
  });
  update();
}
