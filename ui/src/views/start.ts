/** The start screen: the name, the Host and Join cards, "paste an invite anywhere". */
import { api, type JamView, type LanJamView, type OpenedInvite, type RoomEvent, type StartupView } from "../api";
import { $, input, showRoomError, showStartError } from "../dom";
import { findInvite, normalizeInvite } from "../room";
import { MAX_NAME_CHARS } from "../bindings/protocol";
import type { HostRequest } from "../bindings/HostRequest";
import { errorMessage } from "../api";
import type { Store } from "../store";

export class Start {
  /** Joins a jam found on the network (set once the form is wired). */
  private joinLan: (jam: LanJamView) => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly enter: (view: JamView) => void,
  ) {}

  mount(startup: StartupView): void {
    const s = startup.settings;
    const name = input("name");
    const invite = input("join-invite");
    name.maxLength = MAX_NAME_CHARS;
    name.value = s.name;
    invite.value = s.lastInvite;
    input("host-port").value = String(s.hostPort);
    input("host-record").checked = s.recordTakes;
    input("host-on-relay").checked = s.hostOnRelay;
    input("relay-server").value = s.relayServer;
    input("port-mapping").checked = s.portMapping;
    const showRelay = () => {
      const onRelay = input("host-on-relay").checked;
      $("relay-row").hidden = !onRelay;
      $("host-port-row").hidden = onRelay;
    };
    showRelay();
    $("host-on-relay").addEventListener("change", showRelay);
    const remember = () => api.remember(name.value, invite.value).catch(() => undefined);
    name.addEventListener("change", remember);
    if (!name.value) name.focus();

    // Pasting an invite anywhere on the start screen fills the Join field.
    document.addEventListener("paste", (e) => {
      if ($("start").hidden) return;
      const found = findInvite(e.clipboardData?.getData("text") ?? "");
      if (found && e.target !== invite) {
        invite.value = found;
        e.preventDefault();
      }
    });

    this.showLan(startup.lanJams);
    void api.onLanJams((jams) => this.showLan(jams));

    // An invite link that opened the app (or reached it while running): the Join form, filled in.
    void api.onInviteOpened((opened) => this.showOpened(opened));
    void api.openedInvite().then((opened) => opened && this.showOpened(opened));

    const onEvent = (e: RoomEvent) => this.store.dispatch(e);
    $("host-button").addEventListener("click", async () => {
      const port = Number(input("host-port").value);
      const onRelay = input("host-on-relay").checked;
      if (!onRelay && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
        showStartError("The port must be a number from 1 to 65535 (7878 is the usual one).");
        return;
      }
      if (onRelay && !input("relay-server").value.trim()) {
        showStartError("Type the relay server's address, such as wss://relay.example.org.");
        return;
      }
      const request: HostRequest = {
        name: name.value,
        password: input("host-password").value || null,
        port: onRelay ? 7878 : port,
        record: input("host-record").checked,
        portMapping: input("port-mapping").checked,
        relay: onRelay ? input("relay-server").value.trim() : null,
        relayKey: onRelay ? input("relay-key").value || null : null,
      };
      const view = await busy($("host-button") as HTMLButtonElement, () => api.host(request, onEvent));
      if (view) this.enter(view);
    });

    this.joinLan = (jam: LanJamView) => {
      invite.value = jam.invite;
      if (jam.password && !input("join-password").value) {
        input("join-password").focus();
        showStartError(`${jam.host}'s jam needs a password: type it, then press Join.`);
        return;
      }
      $("join-button").click();
    };

    $("join-button").addEventListener("click", async () => {
      const request = {
        name: name.value,
        invite: normalizeInvite(invite.value),
        listener: input("role-listen").checked,
        password: input("join-password").value || null,
      };
      const view = await busy($("join-button") as HTMLButtonElement, () => api.join(request, onEvent));
      if (view) this.enter(view);
    });
  }

  /**
   * An invite link from outside: on the start screen the Join form holds it and Join has the
   * focus (one press joins; the name is the remembered one). In a jam nothing changes but a
   * note that it arrived, for when the musician leaves.
   */
  private showOpened(opened: OpenedInvite): void {
    const inRoom = $("start").hidden;
    if (!opened.invite) {
      if (opened.problem) (inRoom ? showRoomError : showStartError)(opened.problem);
      return;
    }
    input("join-invite").value = opened.invite;
    if (inRoom) {
      showRoomError(`An invite arrived (${opened.invite}): leave this jam to join it.`);
      return;
    }
    showStartError(undefined);
    const name = input("name");
    if (name.value.trim()) $("join-button").focus();
    else name.focus();
  }

  /** The jams found on this network, each one click from joining. */
  private showLan(jams: LanJamView[]): void {
    $("lan-panel").hidden = jams.length === 0;
    $("lan-jams").replaceChildren(
      ...jams.map((jam) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.className = "lan-jam";
        button.textContent = describeLanJam(jam);
        button.title = jam.invite;
        button.addEventListener("click", () => this.joinLan(jam));
        li.append(button);
        return li;
      }),
    );
  }
}

/** "Ann's jam · 2 in the room · password" */
export function describeLanJam(jam: LanJamView): string {
  const people = jam.players === 1 ? "1 in the room" : `${jam.players} in the room`;
  return `${jam.host}'s jam · ${people}${jam.password ? " · password" : ""}`;
}

/** Runs `what` with `button` disabled; an error shows on the start screen and changes nothing. */
async function busy<T>(button: HTMLButtonElement, what: () => Promise<T>): Promise<T | undefined> {
  button.disabled = true;
  showStartError(undefined);
  try {
    return await what();
  } catch (e) {
    showStartError(errorMessage(e));
    return undefined;
  } finally {
    button.disabled = false;
  }
}
