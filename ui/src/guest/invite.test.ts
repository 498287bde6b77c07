import { describe, expect, it } from "vitest";
import { codeOf, hostOf, inviteForPage } from "./invite";

describe("the browser guest's invites", () => {
  it("finds the code in a link, an invite or a bare code", () => {
    expect(codeOf("http://192.168.1.20:7878/join/K7M2QXH4")).toBe("K7M2QXH4");
    expect(codeOf("jam://192.168.1.20:7878/K7M2QXH4")).toBe("K7M2QXH4");
    expect(codeOf("  k7m2 qxh4 ")).toBe("k7m2 qxh4");
    expect(codeOf("")).toBe("");
  });
  it("reads the host an invite points at", () => {
    expect(hostOf("jams://Relay.Example.org/K7M2QXH4")).toBe("relay.example.org");
    expect(hostOf("K7M2QXH4")).toBeUndefined();
  });
  it("writes the page's own invite from its address", () => {
    expect(inviteForPage("http:", "10.0.0.2:7878", "/join/K7M2QXH4")).toBe("jam://10.0.0.2:7878/K7M2QXH4");
    expect(inviteForPage("https:", "relay.example.org", "/join/K7M2QXH4")).toBe("jams://relay.example.org/K7M2QXH4");
    expect(inviteForPage("http:", "a", "/")).toBe("");
    expect(inviteForPage("http:", "a", "/join/<script>")).toBe("");
  });
});
