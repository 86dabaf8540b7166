// Icarus Verilog testbench for the emitted coevm_keccak256 core: known keccak256 digests
// (empty, "abc", one exact block, multi-block) through the 64-bit valid/ready bus.
`timescale 1ns/1ps
module tb;
  reg clock = 0;
  always #5 clock = ~clock;

  reg  [63:0] in_data = 0;
  reg  [3:0]  in_bytes = 0;
  reg         in_last = 0;
  reg         in_valid = 0;
  reg         out_ready = 0;
  wire        in_ready;
  wire [63:0] out_data;
  wire        out_last;
  wire        out_valid;

  coevm_keccak256 dut(.clock(clock), .in_data(in_data), .in_bytes(in_bytes), .in_last(in_last),
      .in_valid(in_valid), .in_ready(in_ready), .out_data(out_data), .out_last(out_last),
      .out_valid(out_valid), .out_ready(out_ready));

  integer failures = 0;
  integer cycles = 0;
  always @(posedge clock) cycles = cycles + 1;

  // Message byte i of pattern `kind`: 0: i, 1: 'a', 2: 3*i, 3: 'a'+i ("abc" for length 3).
  function [7:0] msg_byte(input integer kind, input integer i);
    case (kind)
      0: msg_byte = i;
      1: msg_byte = 8'h61;
      2: msg_byte = (3 * i);
      default: msg_byte = 8'h61 + i;
    endcase
  endfunction

  task send_beat(input [63:0] d, input [3:0] n, input l);
    begin
      @(negedge clock);
      in_data = d; in_bytes = n; in_last = l; in_valid = 1;
      #1;
      while (!in_ready) begin @(negedge clock); #1; end
      @(posedge clock);
      #1 in_valid = 0;
    end
  endtask

  task hash(input integer kind, input integer len, input [255:0] want);
    integer i, j, n;
    reg [63:0] w;
    reg [255:0] got;
    integer start;
    begin
      start = cycles;
      i = 0;
      if (len == 0) send_beat(64'h0, 4'd0, 1'b1);
      while (i < len) begin
        n = (len - i < 8) ? (len - i) : 8;
        w = 0;
        for (j = 0; j < n; j = j + 1) w[8*j +: 8] = msg_byte(kind, i + j);
        send_beat(w, n, (i + n == len));
        i = i + n;
      end
      // Digest: 4 beats, bytes little-endian; `got` holds byte 0 in its top 8 bits.
      for (i = 0; i < 4; i = i + 1) begin
        @(negedge clock);
        out_ready = 1;
        #1;
        while (!out_valid) begin @(negedge clock); #1; end
        if ((i == 3) != out_last) begin
          $display("FAIL out_last on beat %0d", i);
          failures = failures + 1;
        end
        for (j = 0; j < 8; j = j + 1) got[255 - 8*(8*i + j) -: 8] = out_data[8*j +: 8];
        @(posedge clock);
        #1 out_ready = 0;
      end
      if (got !== want) begin
        $display("FAIL keccak256(kind %0d, %0d bytes) = %h, want %h", kind, len, got, want);
        failures = failures + 1;
      end else
        $display("ok   keccak256(kind %0d, %0d bytes) = %h  (%0d cycles)", kind, len, got, cycles - start);
    end
  endtask

  initial begin
    hash(3, 0, 256'hc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470);
    hash(3, 3, 256'h4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45);
    hash(0, 136, 256'h7ce759f1ab7f9ce437719970c26b0a66ff11fe3e38e17df89cf5d29c7d7f807e);
    hash(1, 200, 256'h96ea54061def936c4be90b518992fdc6f12f535068a256229aca54267b4d084d);
    hash(2, 64, 256'h2fa9356c1d74f88672c3f58326581718fb260595dfdc7ec401e09a85f6f3f09a);
    if (failures == 0) $display("PASS keccak256 testbench");
    else $display("FAIL keccak256 testbench: %0d failures", failures);
    $finish;
  end

  initial begin
    #1000000;
    $display("FAIL keccak256 testbench: timeout");
    $finish;
  end
endmodule
