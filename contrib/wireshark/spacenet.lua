-- spacenet.lua: Wireshark dissectors for spacenet's own formats.
--
--   spacenet_frame  the APID plane's 256-byte frame (spec apid-plane.md section 1), with the
--                   ERROR payload (and its 16-byte echo), the switch's HEALTH reply (from
--                   APID 0x001) and the IPC sub-header (package ipc/ipcframe) decoded.
--                   Registered for the link type USER0 (pcap DLT 147): a capture of frames
--                   on a tenant's Unix socket, one or more whole frames per record.
--   spacenet        a CCSDS Space Packet in the ground link's `spacenet` layout (the frame's
--                   8-byte header and payload inside; docs/ground.md). Not registered on a
--                   port: use "Decode As... UDP port -> SPACENET" or tshark -d udp.port==N,spacenet.
--   ccsds_tcp       CCSDS Space Packets back to back on a TCP stream (the ground link's tcp://
--                   and tcp-listen:// links), reassembled across segments and each handed to
--                   Wireshark's own CCSDS dissector (which registers on UDP only); for the
--                   spacenet layout set the preference ccsds_tcp.inner to spacenet. Not
--                   registered on a port: tshark -d tcp.port==N,ccsds_tcp.
--
-- Install: copy this file into Wireshark's personal plugins folder
-- (~/.local/lib/wireshark/plugins/ on Linux; Help > About > Folders shows it), or load it
-- for one run: tshark -X lua_script:contrib/wireshark/spacenet.lua -r capture.pcap
-- Tested by uplink's TestLuaDissector.

local FRAME_SIZE = 256
local FRAME_HEADER = 8

local types = { [0] = "TM", [1] = "TC", [2] = "EVR", [3] = "PRM_GET", [4] = "PRM_SET",
  [5] = "PRM_RSP", [6] = "DP", [7] = "HEALTH", [8] = "LOG", [9] = "ERROR" }
local codes = { [1] = "Unknown_type", [2] = "Unknown_version", [3] = "Message_too_large",
  [4] = "Apid_not_allocated", [5] = "Host_busy", [6] = "Malformed", [7] = "Not_permitted",
  [8] = "No_route", [9] = "Rate_limited", [10] = "Link_failed" }
local ipc_kinds = { [1] = "request", [2] = "reply", [3] = "busy", [4] = "post", [5] = "post_refused" }

local pf = Proto("spacenet_frame", "spacenet APID frame")
local f = {
  version = ProtoField.uint8("spacenet.version", "Version", base.HEX),
  type = ProtoField.uint8("spacenet.type", "Type", base.HEX, types),
  apid = ProtoField.uint16("spacenet.apid", "Source APID", base.HEX),
  len = ProtoField.uint16("spacenet.len", "Payload length", base.DEC),
  dest = ProtoField.uint16("spacenet.dest", "Destination APID", base.HEX),
  payload = ProtoField.bytes("spacenet.payload", "Payload"),
  padding = ProtoField.bytes("spacenet.padding", "Padding"),
  err_code = ProtoField.uint8("spacenet.error.code", "Error code", base.HEX, codes),
  err_type = ProtoField.uint8("spacenet.error.type", "Offending type", base.HEX, types),
  err_apid = ProtoField.uint16("spacenet.error.apid", "Offending APID", base.HEX),
  err_len = ProtoField.uint16("spacenet.error.len", "Offending payload length", base.DEC),
  err_echo = ProtoField.bytes("spacenet.error.echo", "Offending payload (first 16 bytes)"),
  health_format = ProtoField.uint8("spacenet.health.format", "Health format", base.DEC),
  health_count = ProtoField.uint8("spacenet.health.count", "Tenants", base.DEC),
  health_uptime = ProtoField.uint32("spacenet.health.uptime", "Uptime (s)", base.DEC),
  health_apid = ProtoField.uint16("spacenet.health.apid", "Tenant first APID", base.HEX),
  health_gen = ProtoField.uint16("spacenet.health.generation", "Generation", base.DEC),
  health_conn = ProtoField.bool("spacenet.health.connected", "Connected", 8, nil, 0x01),
  health_queue = ProtoField.uint16("spacenet.health.queue", "Queued frames", base.DEC),
  ipc_magic = ProtoField.uint8("spacenet.ipc.magic", "IPC magic", base.HEX),
  ipc_version = ProtoField.uint8("spacenet.ipc.version", "IPC version", base.DEC, nil, 0xF0),
  ipc_kind = ProtoField.uint8("spacenet.ipc.kind", "IPC kind", base.DEC, ipc_kinds, 0x0F),
  ipc_id = ProtoField.uint32("spacenet.ipc.id", "Call id", base.DEC),
  ipc_total = ProtoField.uint32("spacenet.ipc.total", "Message length", base.DEC),
  ipc_offset = ProtoField.uint32("spacenet.ipc.offset", "Segment offset", base.DEC),
  ipc_data = ProtoField.bytes("spacenet.ipc.data", "Segment data"),
}
pf.fields = f

-- payload_tree decodes a payload whose meaning the frame's type and
-- source say: ERROR, the switch's HEALTH reply, or an IPC segment.
local function payload_tree(tree, tvb, typ, apid)
  local n = tvb:len()
  if typ == 9 and n >= 8 then
    tree:add(f.err_code, tvb(0, 1))
    tree:add(f.err_type, tvb(1, 1))
    tree:add(f.err_apid, tvb(2, 2))
    tree:add(f.err_len, tvb(4, 2))
    if n >= 24 then tree:add(f.err_echo, tvb(8, 16)) end
  elseif typ == 7 and apid == 0x001 and n >= 8 then
    tree:add(f.health_format, tvb(0, 1))
    tree:add(f.health_count, tvb(1, 1))
    tree:add(f.health_uptime, tvb(4, 4))
    local count = tvb(1, 1):uint()
    for i = 0, count - 1 do
      local o = 8 + 8 * i
      if o + 8 > n then break end
      local t = tree:add(pf, tvb(o, 8), "Tenant " .. i)
      t:add(f.health_apid, tvb(o, 2))
      t:add(f.health_gen, tvb(o + 2, 2))
      t:add(f.health_conn, tvb(o + 4, 1))
      t:add(f.health_queue, tvb(o + 6, 2))
    end
  elseif (typ == 0 or typ == 1) and n >= 14 and tvb(0, 1):uint() == 0xD1 then
    local t = tree:add(pf, tvb(0, n), "IPC segment")
    t:add(f.ipc_magic, tvb(0, 1))
    t:add(f.ipc_version, tvb(1, 1))
    t:add(f.ipc_kind, tvb(1, 1))
    t:add(f.ipc_id, tvb(2, 4))
    t:add(f.ipc_total, tvb(6, 4))
    t:add(f.ipc_offset, tvb(10, 4))
    if n > 14 then t:add(f.ipc_data, tvb(14, n - 14)) end
  end
end

-- frame_tree decodes one frame at tvb's start: its header, then its
-- payload (as much of payload_length as tvb holds), then any padding.
-- It returns a short summary.
local function frame_tree(tree, tvb)
  local t = tree:add(pf, tvb(), "spacenet frame")
  if tvb:len() < FRAME_HEADER then
    t:add_expert_info(PI_MALFORMED, PI_ERROR, "shorter than a frame header")
    return "short frame"
  end
  local typ = tvb(1, 1):uint()
  local apid = tvb(2, 2):uint()
  local plen = tvb(4, 2):uint()
  t:add(f.version, tvb(0, 1))
  t:add(f.type, tvb(1, 1))
  t:add(f.apid, tvb(2, 2))
  t:add(f.len, tvb(4, 2))
  t:add(f.dest, tvb(6, 2))
  local avail = math.min(plen, tvb:len() - FRAME_HEADER)
  if avail > 0 then
    t:add(f.payload, tvb(FRAME_HEADER, avail))
    payload_tree(t, tvb(FRAME_HEADER, avail):tvb(), typ, apid)
  end
  if tvb:len() > FRAME_HEADER + avail then
    t:add(f.padding, tvb(FRAME_HEADER + avail))
  end
  return string.format("%s 0x%03X -> 0x%03X, %d bytes", types[typ] or ("type " .. typ), apid,
    tvb(6, 2):uint(), plen)
end

function pf.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "SPACENET"
  local info = {}
  local o = 0
  while o < tvb:len() do
    local n = math.min(FRAME_SIZE, tvb:len() - o)
    info[#info + 1] = frame_tree(tree, tvb(o, n):tvb())
    o = o + n
  end
  pinfo.cols.info = table.concat(info, "; ")
  return tvb:len()
end

local pp = Proto("spacenet", "spacenet CCSDS packet (spacenet layout)")
local p = {
  version = ProtoField.uint16("spacenet.ccsds.version", "Version", base.DEC, nil, 0xE000),
  type = ProtoField.uint16("spacenet.ccsds.type", "Type", base.DEC, { [0] = "TM", [1] = "TC" }, 0x1000),
  sec = ProtoField.uint16("spacenet.ccsds.secheader", "Secondary header", base.DEC, nil, 0x0800),
  apid = ProtoField.uint16("spacenet.ccsds.apid", "APID", base.HEX, nil, 0x07FF),
  seqflags = ProtoField.uint16("spacenet.ccsds.seqflags", "Sequence flags", base.DEC, nil, 0xC000),
  seq = ProtoField.uint16("spacenet.ccsds.seq", "Sequence count", base.DEC, nil, 0x3FFF),
  length = ProtoField.uint16("spacenet.ccsds.length", "Data length", base.DEC),
}
pp.fields = p

function pp.dissector(tvb, pinfo, tree)
  if tvb:len() < 6 then return 0 end
  pinfo.cols.protocol = "SPACENET"
  local t = tree:add(pp, tvb(), "spacenet CCSDS packet")
  t:add(p.version, tvb(0, 2))
  t:add(p.type, tvb(0, 2))
  t:add(p.sec, tvb(0, 2))
  t:add(p.apid, tvb(0, 2))
  t:add(p.seqflags, tvb(2, 2))
  t:add(p.seq, tvb(2, 2))
  t:add(p.length, tvb(4, 2))
  if tvb:len() > 6 then
    pinfo.cols.info = frame_tree(tree, tvb(6):tvb())
  end
  return tvb:len()
end

DissectorTable.get("wtap_encap"):add((wtap_encaps or wtap).USER0, pf)
DissectorTable.get("udp.port"):add_for_decode_as(pp)

-- CCSDS over TCP: each packet's length is its primary header's data length
-- field + 1 + 6.
local tp = Proto("ccsds_tcp", "CCSDS Space Packets over TCP")
tp.prefs.inner = Pref.enum("Layout", 1, "how to decode each packet",
  { { 1, "ccsds", 1 }, { 2, "spacenet", 2 } }, false)
local ccsds = Dissector.get("ccsds")

local function ccsds_pdu_len(tvb, pinfo, offset)
  return tvb(offset + 4, 2):uint() + 7
end

local function ccsds_pdu(tvb, pinfo, tree)
  if tp.prefs.inner == 2 then
    return pp.dissector(tvb, pinfo, tree)
  end
  return ccsds:call(tvb, pinfo, tree)
end

function tp.dissector(tvb, pinfo, tree)
  dissect_tcp_pdus(tvb, tree, 6, ccsds_pdu_len, ccsds_pdu)
  return tvb:len()
end

DissectorTable.get("tcp.port"):add_for_decode_as(tp)
