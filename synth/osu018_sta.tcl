# OpenSTA on the OSU018 netlist written by osu018.ys (macgen.timing).
#
# {lib}, {netlist}, {top}, {clock} are filled in by macgen.timing. The clock
# period is loose (1 us): only the path delays are read, never the slack's sign.
# Inputs and outputs are constrained at 0 ns from the clock edge, so the four
# reports are the worst register-to-register, input-to-register,
# register-to-output and input-to-output paths of the design.
read_liberty {lib}
read_verilog {netlist}
link_design {top}
create_clock -name clk -period 1000 [get_ports {clock}]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {clock}]]
set_output_delay 0 -clock clk [all_outputs]
puts "=== macgen reg_to_reg"
report_checks -path_delay max -from [all_registers -clock_pins] -to [all_registers -data_pins] -digits 3
puts "=== macgen in_to_reg"
report_checks -path_delay max -from [all_inputs] -to [all_registers -data_pins] -digits 3
puts "=== macgen reg_to_out"
report_checks -path_delay max -from [all_registers -clock_pins] -to [all_outputs] -digits 3
puts "=== macgen in_to_out"
report_checks -path_delay max -from [all_inputs] -to [all_outputs] -digits 3
puts "=== macgen end"
exit
