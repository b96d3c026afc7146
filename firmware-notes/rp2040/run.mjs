// The bare-metal RP2040 board (board.c) on rp2040js, with UART0 on a TCP port.
//
//   node rp2040/run.mjs ELF [--port N] [--state FILE] [--provisioning] [--trace-cycles]
//
// Prints socket://127.0.0.1:PORT on its first line (--port 0, the default, picks a free port), then
// serves one client at a time. Each connection is a power-on of the chip, as opening an Uno's port
// resets it: the firmware is loaded again and the stored image put back. rp2040js has no boot ROM
// and cannot write flash, so the runner starts the core at the ELF's vector table and keeps the
// board's stored image (the .image section, the last 256 bytes of SRAM) in --state FILE.
//
//   --provisioning   GP15 (the provisioning jumper) held low; otherwise it reads high
//   --trace-cycles   on standard error, one line per reply: the cycles from a request's final byte
//                    (0x00) entering UART0 to the reply's first byte leaving it
//
// Bytes from the client wait in a queue and enter the 32-byte receive FIFO as it has room, as a
// serial line paced by the board would deliver them. Stops on SIGTERM or SIGINT, or when the parent
// process exits.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { RP2040 } from 'rp2040js';

const IMAGE_ADDRESS = 0x20041f00;
const IMAGE_SIZE = 60;
const RAM_START = 0x20000000;
const FLASH_START = 0x10000000;
const VTOR = 0xe000ed08;
const NANOS_PER_CYCLE = 8; // rp2040js counts cycles at 125 MHz
const BATCH = 20000; // instructions between looks at the queue and the stored image
const BOOT_DELAY_MS = 50; // pyserial's socket:// drops what arrives while it connects

function usage() {
  process.stderr.write('usage: node run.mjs ELF [--port N] [--state FILE] [--provisioning] [--trace-cycles]\n');
  process.exit(2);
}

const options = { port: 0, state: null, provisioning: false, traceCycles: false, elf: null };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port' && i + 1 < args.length) options.port = Number(args[++i]);
  else if (args[i] === '--state' && i + 1 < args.length) options.state = args[++i];
  else if (args[i] === '--provisioning') options.provisioning = true;
  else if (args[i] === '--trace-cycles') options.traceCycles = true;
  else if (!args[i].startsWith('-') && options.elf === null) options.elf = args[i];
  else usage();
}
if (options.elf === null) usage();

// The loadable segments of a 32-bit little-endian ELF, at their physical (load) addresses.
function segments(path) {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 1 || elf[5] !== 1) {
    throw new Error(`${path}: not a 32-bit little-endian ELF`);
  }
  const phoff = elf.readUInt32LE(28);
  const phentsize = elf.readUInt16LE(42);
  const phnum = elf.readUInt16LE(44);
  const loads = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (elf.readUInt32LE(at) !== 1 || elf.readUInt32LE(at + 16) === 0) continue; // PT_LOAD with file bytes
    const offset = elf.readUInt32LE(at + 4);
    const paddr = elf.readUInt32LE(at + 12);
    const filesz = elf.readUInt32LE(at + 16);
    loads.push({ paddr, bytes: elf.subarray(offset, offset + filesz) });
  }
  return loads;
}

const firmware = segments(options.elf);

function loadImage() {
  if (options.state === null) return null;
  try {
    const data = readFileSync(options.state);
    return data.length === IMAGE_SIZE ? data : null;
  } catch {
    return null;
  }
}

function saveImage(image) {
  if (options.state === null) return;
  const temporary = `${options.state}.tmp`;
  writeFileSync(temporary, image);
  renameSync(temporary, options.state);
}

function powerOn(socket) {
  const rp2040 = new RP2040();
  for (const { paddr, bytes } of firmware) {
    if (paddr >= FLASH_START && paddr < RAM_START) rp2040.flash.set(bytes, paddr - FLASH_START);
    else if (paddr >= RAM_START) rp2040.sram.set(bytes, paddr - RAM_START);
  }
  const stored = rp2040.sram.subarray(IMAGE_ADDRESS - RAM_START, IMAGE_ADDRESS - RAM_START + IMAGE_SIZE);
  const image = loadImage();
  if (image !== null) stored.set(image);
  let saved = Buffer.from(stored);
  // No boot ROM: start at the vector table, as the ROM does after boot stage 2.
  rp2040.writeUint32(VTOR, FLASH_START);
  rp2040.core.SP = rp2040.readUint32(FLASH_START);
  rp2040.core.PC = rp2040.readUint32(FLASH_START + 4) & ~1;
  rp2040.gpio[15].setInputValue(!options.provisioning);

  const uart = rp2040.uart[0];
  const chip = { queue: [], out: [], idle: false, stopped: false, cycles: 0, pending: null };
  uart.onByte = (value) => {
    if (chip.pending !== null) {
      if (options.traceCycles) process.stderr.write(`reply after ${chip.cycles - chip.pending} cycles\n`);
      chip.pending = null;
    }
    chip.out.push(value);
  };

  function feed() {
    while (chip.queue.length > 0 && !uart.rxFIFO.full) {
      const value = chip.queue.shift();
      if (value === 0 && chip.pending === null) chip.pending = chip.cycles;
      uart.feedByte(value);
    }
  }

  function flush() {
    // The image first: a reply never reaches the client before what it stored is in the file.
    if (!Buffer.from(stored).equals(saved)) {
      saved = Buffer.from(stored);
      saveImage(saved);
    }
    if (chip.out.length > 0 && !socket.destroyed) socket.write(Buffer.from(chip.out));
    chip.out = [];
  }

  function run() {
    if (chip.stopped) return;
    for (let i = 0; i < BATCH; i++) {
      if (i % 64 === 0) feed();
      if (rp2040.core.waiting) {
        feed();
        if (rp2040.core.waiting) {
          // Asleep in WFI: nothing to do until the client sends a byte.
          chip.idle = true;
          flush();
          return;
        }
      }
      const cycles = rp2040.core.executeInstruction();
      chip.cycles += cycles;
      rp2040.clock.tick(cycles * NANOS_PER_CYCLE);
    }
    flush();
    setImmediate(run);
  }

  chip.receive = (data) => {
    for (const value of data) chip.queue.push(value);
    if (chip.idle) {
      chip.idle = false;
      setImmediate(run);
    }
  };
  chip.stop = () => {
    chip.stopped = true;
    flush();
  };
  setTimeout(run, BOOT_DELAY_MS);
  return chip;
}

let current = null;
const server = createServer((socket) => {
  if (current !== null) {
    socket.destroy(); // one client at a time, as on a serial line
    return;
  }
  const chip = powerOn(socket);
  current = chip;
  socket.on('data', (data) => chip.receive(data));
  socket.on('error', () => {});
  socket.on('close', () => {
    chip.stop();
    if (current === chip) current = null;
  });
});

server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`socket://127.0.0.1:${server.address().port}\n`);
});

const parent = process.ppid;
function shutdown() {
  if (current !== null) current.stop();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
setInterval(() => {
  if (process.ppid !== parent) shutdown();
}, 500).unref();
