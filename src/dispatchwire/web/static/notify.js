// A new offer is announced with a beep, a vibration and, while the page is hidden, a system
// notification, each where the browser allows it (sound needs a click on the page first;
// notifications need the permission, which the push card asks for: push.js).

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

// Shown through the service worker's registration where there is one (Android Chrome allows
// no other way), with the tag a push of the same offer uses: one notice per offer, whichever
// way it came, and gone when the offer ends.
async function systemNotification(offer) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const title = t("master.notificationTitle");
  const options = {
    body: t("master.notificationBody", {
      appliance: applianceLabel(offer.applianceType), problem: offer.problem, address: offer.address,
    }),
    tag: `assignment-${offer.id}`,
    data: { url: "/master", kind: "offer", assignmentId: offer.id, orderId: offer.orderId },
  };
  try {
    const registration = await navigator.serviceWorker?.getRegistration("/");
    if (registration) await registration.showNotification(title, options);
    else new Notification(title, options);
  } catch {
    // notifications refused here: the beep has to do
  }
}

export function announceOffer(offer) {
  beep();
  navigator.vibrate?.([200, 100, 200]);
  systemNotification(offer);
}

/** The offer is no longer open: its notice, if any, goes. */
export async function withdrawNotice(assignmentId) {
  try {
    const registration = await navigator.serviceWorker?.getRegistration("/");
    const shown = await registration?.getNotifications({ tag: `assignment-${assignmentId}` });
    for (const notice of shown ?? []) notice.close();
  } catch {
    // nothing shown, nothing to take back
  }
}
