// A jam server written the usual way with Socket.IO, for the relay bench's comparison
// (crates/jam-relay/benches/relay.rs --compare-socketio): rooms are Socket.IO rooms and every
// event goes to the rest of the room with `socket.to(room).emit`. No validation, no limits, no
// state: the least a Socket.IO server can do per event, so the comparison flatters it.
//
// Prints `listening on PORT` once it accepts connections. Usage: node server.mjs [PORT]
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  // The bench's clients answer no Engine.IO pings; a bench run is far shorter than this.
  pingInterval: 600_000,
  pingTimeout: 600_000,
  serveClient: false,
});

io.on("connection", (socket) => {
  let room;
  socket.on("join", (code) => {
    room = String(code);
    socket.join(room);
    socket.emit("joined", room);
  });
  socket.on("drum_hit", (hit) => {
    if (room) socket.to(room).emit("drum_hit", hit);
  });
});

http.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening on ${http.address().port}`);
});
